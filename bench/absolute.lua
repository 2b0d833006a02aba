-- wrk through a forward proxy: the request line must carry the absolute URL.
-- usage: wrk -s absolute.lua http://PROXY_HOST:PROXY_PORT -- http://ORIGIN/path [BASE64]
-- BASE64: Basic credentials (base64 of user:password) for the proxy.
local target
function init(args)
	target = args[1]
	if args[2] then
		wrk.headers["Proxy-Authorization"] = "Basic " .. args[2]
	end
end
function request()
	return wrk.format("GET", target)
end
