-- wrk through a forward proxy: the request line must carry the absolute URL.
-- usage: wrk -s absolute.lua http://PROXY_HOST:PROXY_PORT -- http://ORIGIN/path
local target
function init(args)
	target = args[1]
end
function request()
	return wrk.format("GET", target)
end
