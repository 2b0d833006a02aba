/* scrape: the metrics page, in Prometheus text format 0.0.4.
 *
 * Reads every worker's counters (metrics.h, dns.h, their pools), the
 * acceptor's and the service's, and the process's own figures from /proc,
 * and adds the workers' up: the request path never does any of this.
 * Names follow Prometheus' conventions: the sluice_ prefix, _total for
 * counters, base units (seconds, bytes).  README "Monitoring" lists them.
 */
#ifndef SLUICE_SCRAPE_H
#define SLUICE_SCRAPE_H

#include <stddef.h>

struct expo;

/* Any worker's thread: the whole page into e. */
void scrape_render(struct expo *e);

struct topk_item;
/* The top talkers (top.h top_merge's) as gauges: bytes and requests per
 * name and per client, each with its error bound. */
void scrape_render_top(struct expo *e, const struct topk_item *names, size_t nnames,
		       const struct topk_item *clients, size_t nclients);
/* The same as the admin's /top JSON: {"workers", "answered", "names":
 * [...], "clients": [...]}, each item {"name", "bytes", "bytes_error",
 * "requests"}. */
void scrape_top_json(struct expo *e, const struct topk_item *names, size_t nnames, const struct topk_item *clients,
		     size_t nclients, int answered, int workers);

#endif
