-- wrk through sluice for the soak: keep-alive requests at a set rate.
-- usage: wrk -s soak.lua http://PROXY -- ORIGIN_URL DELAY_MS
-- Each connection sends one request every DELAY_MS (wrk's delay()), to a
-- rotation of small routes of the test origin: a Content-Length body, a
-- chunked one, a bigger one.
local origin, pause
local paths = { "/bytes/100", "/chunked/2000", "/bytes/10000", "/bytes/1000" }
local n = 0

function init(args)
	origin = args[1]
	pause = tonumber(args[2])
end

function request()
	n = n + 1
	return wrk.format("GET", origin .. paths[n % #paths + 1])
end

function delay()
	return pause
end
