# The recv/send fallback (tunnel_splice off) passes the same byte checks as
# the splice relay: t_tunnel_data.sh run with TUNNEL_SPLICE=off -- data in
# the same write as the CONNECT head, half-close both ways and before the
# 200, 100 MiB each way, a 101 with bytes behind it, [::1], a reset -- and
# sluice holds no pipe afterwards.
TUNNEL_SPLICE=off exec bash "$(dirname "$0")/t_tunnel_data.sh"
