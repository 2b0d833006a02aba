/* unit_main: run every unit suite (fork mode, the Check default, so a test
 * that crashes is reported as a failure and the others still run).
 * Exits non-zero when any test fails. */
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(http_suite());
	srunner_add_suite(sr, config_suite());
	srunner_add_suite(sr, config_docs_suite());
	srunner_add_suite(sr, parent_suite());
	srunner_add_suite(sr, log_suite());
	srunner_add_suite(sr, dns_suite());
	srunner_add_suite(sr, body_suite());
	srunner_add_suite(sr, buf_suite());
	srunner_add_suite(sr, loop_suite());
	srunner_add_suite(sr, tunnel_suite());
	srunner_add_suite(sr, worker_suite());
	srunner_add_suite(sr, tls_hello_suite());
	srunner_add_suite(sr, intercept_suite());
	srunner_add_suite(sr, upstream_suite());
	srunner_add_suite(sr, nameset_suite());
	srunner_add_suite(sr, topk_suite());
	srunner_add_suite(sr, acl_suite());
	srunner_add_suite(sr, route_suite());
	srunner_add_suite(sr, htpasswd_suite());
	srunner_add_suite(sr, auth_suite());
	srunner_add_suite(sr, proxy_proto_suite());
	srunner_add_suite(sr, expo_suite());
	srunner_add_suite(sr, json_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
