-- GET of the URL given to wrk (healthz, nginx, echo web actions); checks the status.
dofile((os.getenv("WRK_DIR") or "bench/wrk") .. "/report.lua")
