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

struct expo;

/* Any worker's thread: the whole page into e. */
void scrape_render(struct expo *e);

#endif
