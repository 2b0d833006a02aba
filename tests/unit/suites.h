/* suites: one Check suite per pure module; unit_main.c runs them all.
 *
 * Each test_*.c file defines its module's suite constructor and keeps its
 * tests and helpers static.
 */
#ifndef SLUICE_TEST_SUITES_H
#define SLUICE_TEST_SUITES_H

#include <check.h>

Suite *http_suite(void);
Suite *target_suite(void);
Suite *config_suite(void);
Suite *dns_cache_suite(void);
Suite *buf_suite(void);
Suite *loop_suite(void);
Suite *tunnel_suite(void);
Suite *tls_hello_suite(void);
Suite *intercept_suite(void);

#endif
