#!/bin/sh
# layerviz's image: what `docker run layerviz:latest [COMMAND [ARGS]]` runs.
#   web      (the default) migrate the database, then serve on $PORT with gunicorn
#   worker   run a worker for the configured queue (manage.py worker)
#   other    any manage.py command: ingest, jobs, images, analyze, createsuperuser...
set -eu
command=${1:-web}
[ $# -gt 0 ] && shift
case "$command" in
    web)
        python manage.py migrate --noinput --verbosity 1
        exec gunicorn --config python:layerviz.gunicorn_conf "$@"
        ;;
    *)
        exec python manage.py "$command" "$@"
        ;;
esac
