#!/bin/sh
# The router function's handler: the AWS Lambda Web Adapter's /opt/bootstrap (AWS_LAMBDA_EXEC_WRAPPER)
# execs this script, then forwards each invocation to the app on 127.0.0.1:$AWS_LWA_PORT and streams
# its response (AWS_LWA_INVOKE_MODE=response_stream). As in the adapter's zip examples, PYTHONPATH
# names what a handler-based function would get from the runtime: the asset root (router,
# routing_engine, and the bundled packages: starlette, uvicorn, re2, ...), the Powertools layer
# (/opt/python: Powertools, pydantic) and the runtime's own directory.
# Access logs are off: the app writes one structured line per request itself. Keep-alive connections from
# the adapter are never closed by an idle timer: the environment is frozen between invocations, and a timer
# that fires on thaw would close the connection just as the adapter reuses it for the next request.
export PYTHONPATH="${LAMBDA_TASK_ROOT}:/opt/python:${LAMBDA_RUNTIME_DIR}${PYTHONPATH:+:${PYTHONPATH}}"
exec python -m uvicorn router.http.app:create_app_from_env --factory \
    --host 127.0.0.1 --port "${AWS_LWA_PORT:-8080}" \
    --log-level warning --no-access-log --timeout-keep-alive 86400
