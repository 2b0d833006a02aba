/* suites: one Check suite per pure module, named after it; unit_main.c runs
 * them all.
 *
 * test_MODULE.c defines the module's suite constructor, MODULE_suite().  A
 * module whose tests span files keeps the others as test_MODULE_PART.c, each
 * exporting a function that adds its test cases to the module's suite,
 * called from the constructor.  Tests and helpers stay static.
 */
#ifndef SLUICE_TEST_SUITES_H
#define SLUICE_TEST_SUITES_H

#include <check.h>

Suite *http_suite(void);
void http_target_add_tcases(Suite *s); /* test_http_target.c */
void http_framing_add_tcases(Suite *s); /* test_http_framing.c */
Suite *config_suite(void);
void config_snapshot_add_tcases(Suite *s); /* test_config_snapshot.c */
Suite *config_docs_suite(void);
Suite *dns_suite(void);
Suite *body_suite(void);
Suite *buf_suite(void);
Suite *loop_suite(void);
Suite *tunnel_suite(void);
Suite *worker_suite(void);
Suite *tls_hello_suite(void);
Suite *intercept_suite(void);
Suite *upstream_suite(void);
Suite *route_suite(void);
Suite *htpasswd_suite(void);
Suite *auth_suite(void);
Suite *nameset_suite(void);
Suite *topk_suite(void);
Suite *acl_suite(void);
Suite *proxy_proto_suite(void);
Suite *expo_suite(void);
Suite *json_suite(void);
Suite *parent_suite(void);
Suite *log_suite(void);

#endif
