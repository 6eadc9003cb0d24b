/* The default fleet shape: the studio's 45 services and their task counts. */
#include "fleet_shape.h"

static const struct shape_service studio_fleet[] = {
    /* 23 services on the shared NATS bus, 2 tasks each */
    { "knowledge-base", 2 },   { "ai-integration", 2 },  { "language-system", 2 },
    { "story-teller", 2 },     { "npc-behavior", 2 },    { "orchestration", 2 },
    { "state-manager", 2 },    { "vocal-synthesis", 2 }, { "dialogue-engine", 2 },
    { "quest-generator", 2 },  { "world-simulation", 2 },{ "memory-store", 2 },
    { "emotion-model", 2 },    { "player-profile", 2 },  { "matchmaking", 2 },
    { "session-broker", 2 },   { "inventory", 2 },       { "economy", 2 },
    { "event-bus-bridge", 2 }, { "telemetry-ingest", 2 },{ "moderation", 2 },
    { "translation", 2 },      { "lore-keeper", 2 },
    /* 22 standalone HTTP/gRPC services, 1 task each */
    { "auth-gateway", 1 },     { "api-gateway", 1 },     { "asset-cdn-sync", 1 },
    { "leaderboard", 1 },      { "achievements", 1 },    { "notifications", 1 },
    { "payments", 1 },         { "store-front", 1 },     { "friends", 1 },
    { "chat-relay", 1 },       { "voice-chat", 1 },      { "analytics-export", 1 },
    { "crash-reporter", 1 },   { "config-service", 1 },  { "feature-flags", 1 },
    { "admin-console", 1 },    { "patch-server", 1 },    { "replay-store", 1 },
    { "anti-cheat", 1 },       { "billing-webhooks", 1 },{ "email-sender", 1 },
    { "status-page", 1 },
};

_Static_assert(sizeof(studio_fleet) / sizeof(studio_fleet[0]) == 45, "the studio runs 45 services");

const struct shape_service *fleet_shape_default(size_t *count)
{
    *count = sizeof(studio_fleet) / sizeof(studio_fleet[0]);
    return studio_fleet;
}
