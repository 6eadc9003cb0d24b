/* A checker of CloudWatch Embedded Metric Format documents, written from the
 * specification's required fields and limits (CloudWatch User Guide,
 * "Specification: Embedded metric format"), shared by the unit test of
 * emf.c and the integration test that reads a real supervisor's stdout. */
#ifndef TESTS_EMF_CHECK_H
#define TESTS_EMF_CHECK_H

#include <stddef.h>

/* Judges one line (without its newline). Returns 0 when it is a valid EMF
 * document, else -1 with one sentence in `why` (len bytes) naming the rule.
 * The rules: a JSON object; "_aws" an object with "Timestamp" a
 * non-negative number (epoch ms) and "CloudWatchMetrics" a non-empty array
 * of directives; each directive has "Namespace" (1..1024 chars, not
 * "AWS/..."), "Dimensions" an array of dimension sets, each an array of at
 * most 30 strings, each naming a top-level string member (1..1024 chars),
 * and "Metrics" an array of 1..100 objects with "Name" (1..1024 chars,
 * unique within the directive), an optional "Unit" from the allowed list and
 * an optional StorageResolution of 1 or 60, each Name a top-level member that
 * is a number or an array of at most 100 numbers. */
int emf_check_line(const char *line, char *why, size_t len);

#endif
