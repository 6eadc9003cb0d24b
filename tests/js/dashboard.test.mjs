// The live dashboard in a real browser (issue 12): headless Chromium
// (Debian chromium, driven by npm playwright-core) loads / from a running
// fleet-supervisor with --http, sees a tile for every service, sees a
// tile's health change within 3 s of an agent's child being killed without
// a reload, sees the SELF_PRESERVATION banner during a mass silence, and
// says so when the live stream is lost. A screenshot is left as an artifact.
//
// The page is read only by the attributes DESIGN.md §9 promises (tiles'
// data-service/data-health, the headline's data-available/data-expected)
// and the banner's data-observer. Run by dashboard.sh (ctest
// integration.js_dashboard), which starts nats-server, makes the
// supervisor's signing key and exports NATS_URL, FLEET_BIN_DIR,
// FLEET_DASHBOARD_DIR (scratch: config, logs, processes.pids),
// FLEET_HTTP_PORT and FLEET_ARTIFACT_DIR.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { connect } from 'nats';
import { chromium } from 'playwright-core';

import { contractTypes } from './contract.mjs';
import { startLogged } from './procs.mjs';

const NATS_URL = process.env.NATS_URL;
const BIN = process.env.FLEET_BIN_DIR;
const DIR = process.env.FLEET_DASHBOARD_DIR;
const PORT = process.env.FLEET_HTTP_PORT;
const ARTIFACTS = process.env.FLEET_ARTIFACT_DIR;
const PAGE = `http://127.0.0.1:${PORT}/`;
const INTERVAL_MS = 200;
const DEADLINE_MS = 30000;
const SERVICES = { web: 2, api: 1, db: 1, cache: 1 };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let nc, browser, page, supervisor, Heartbeat;
const children = [];
const agents = new Map();          // instance -> its fleet-agent process
const childPid = new Map();        // instance -> the pid its heartbeats report

function start(name, program, args) {
    return startLogged(DIR, children, name, program, args);
}

async function waitFor(what, pred, ms = DEADLINE_MS) {
    const end = Date.now() + ms;
    for (;;) {
        const v = await pred();
        if (v) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
    }
}

/** Every service's tile health, from the page's attributes. */
function tiles() {
    return page.$$eval('[data-service]', (els) => Object.fromEntries(els.map((e) => [e.dataset.service, e.dataset.health])));
}

describe('the dashboard in a real browser', { timeout: 180000 }, () => {
    before(async () => {
        ({ Heartbeat } = await contractTypes('Heartbeat'));
        // api is observed only (restart: false), so its death stays on the page
        // rather than being repaired between two statuses.
        const services = Object.entries(SERVICES).map(([n, d]) =>
            `  - name: ${n}\n    desired: ${d}\n${n === 'api' ? '    restart: false\n' : ''}`).join('');
        writeFileSync(join(DIR, 'fleet.yaml'),
            `nats:\n  url: ${NATS_URL}\n` +
            `supervisor:\n  status_interval_ms: ${INTERVAL_MS}\n` +
            `detector:\n  default_interval_ms: ${INTERVAL_MS}\n` +
            `control:\n  signing_key_file: ${join(DIR, 'supervisor.seed')}\n` +
            `services:\n${services}`);
        supervisor = start('supervisor', `${BIN}/daemon/fleet-supervisor`,
            ['--config', join(DIR, 'fleet.yaml'), '--http', `127.0.0.1:${PORT}`]);
        nc = await connect({ servers: NATS_URL });
        const sub = nc.subscribe('fleet.v1.hb.>');
        (async () => {
            for await (const m of sub) {
                const hb = Heartbeat.decode(m.data);
                if (hb.pid) childPid.set(hb.instance, hb.pid);
            }
        })();
        const trust = readFileSync(join(DIR, 'supervisor.pub'), 'utf8').trim();
        for (const [svc, n] of Object.entries(SERVICES))
            for (let k = 1; k <= n; k++) {
                const inst = `${svc}-${k}`;
                agents.set(inst, start(`agent-${inst}`, `${BIN}/agent/fleet-agent`, [
                    '-s', NATS_URL, '--service', svc, '--instance', inst, '--interval-ms', String(INTERVAL_MS),
                    '--trust', trust, '--', 'sleep', '1000']));
            }
        browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
        page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await waitFor('the page to load', async () => {
            try { return (await page.goto(PAGE)).ok(); } catch (e) { return false; }
        });
    });

    after(async () => {
        if (browser) await browser.close();
        if (nc) await nc.close();
        for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    });

    it('shows every service, all available, in the headline and the tiles', async () => {
        await page.evaluate(() => { window.notReloaded = true; });
        await waitFor('every tile available', async () => {
            const t = await tiles();
            return Object.keys(SERVICES).every((s) => t[s] === 'SERVICE_HEALTH_AVAILABLE');
        });
        const head = await page.$eval('#headline', (h) => ({ ...h.dataset, text: h.textContent }));
        assert.equal(head.expected, '4');
        assert.equal(head.available, '4');
        assert.match(head.text, /^4\/4 available \(100\.0 %\)$/);
        assert.equal(await page.$eval('#banner', (b) => b.classList.contains('on')), false);
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    });

    it('a tile changes health within 3 s of a death, without a reload', async () => {
        const pid = await waitFor('api-1 to report its child', () => childPid.get('api-1'));
        const killed = Date.now();
        process.kill(Number(pid), 'SIGKILL');
        await waitFor('the api tile to leave AVAILABLE', async () =>
            (await tiles()).api !== 'SERVICE_HEALTH_AVAILABLE', 3000);
        const took = Date.now() - killed;
        assert.ok(took < 3000, `the tile changed after ${took} ms`);
        assert.equal((await tiles()).api, 'SERVICE_HEALTH_UNAVAILABLE');
        assert.equal(await page.evaluate(() => window.notReloaded), true);
        // The death is in the recent events, as the feed announced it.
        await waitFor('the death in the events list', () =>
            page.$$eval('#events li', (li) => li.some((l) => /api\/api-1 .*DEAD/.test(l.textContent))));
    });

    it('details of a service open from the keyboard', async () => {
        await page.focus('[data-service="web"]');
        await page.keyboard.press('Enter');
        await waitFor('web-1 and web-2 in the details', async () =>
            (await page.$$eval('#detail tr[data-instance]', (rows) => rows.map((r) => r.dataset.instance)))
                .sort().join(',') === 'web-1,web-2');
        assert.equal(await page.$eval('[data-service="web"]', (t) => t.getAttribute('aria-expanded')), 'true');
    });

    it('shows the SELF_PRESERVATION banner during a mass silence', async () => {
        // Three of the four healthy instances fall silent at once (api-1 is dead).
        const silent = ['web-1', 'web-2', 'db-1'];
        for (const i of silent) agents.get(i).kill('SIGSTOP');
        try {
            await waitFor('the SELF_PRESERVATION banner', () => page.$eval('#banner', (b) =>
                b.classList.contains('on') && b.dataset.observer === 'OBSERVER_STATE_SELF_PRESERVATION' &&
                getComputedStyle(b).display !== 'none'));
            await page.screenshot({ path: join(ARTIFACTS, 'dashboard-self-preservation.png') });
        } finally {
            for (const i of silent) agents.get(i).kill('SIGCONT');
        }
        await waitFor('the banner gone again', () => page.$eval('#banner', (b) => !b.classList.contains('on')), 60000);
        assert.equal(await page.evaluate(() => window.notReloaded), true);
    });

    it('says when the live stream is lost', async () => {
        supervisor.kill('SIGTERM');
        await waitFor('the stream marked lost', () => page.$eval('#stream', (s) => s.dataset.stream === 'lost'));
    });
});
