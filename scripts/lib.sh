# Shared by scripts/run and scripts/test: a virtualenv with pinned packages, and the local
# services started when they are not answering. Sourced, not run.

ensure_venv() {
    # $1: requirements file. Reinstalls only when it (or what it includes) changed.
    local requirements=$1
    if [ ! -x .venv/bin/python ]; then
        echo "==> Creating virtualenv in .venv"
        python3 -m venv .venv
    fi
    # shellcheck disable=SC1091
    . .venv/bin/activate
    local stamp=.venv/.installed-$(basename "$requirements")
    local digest
    digest=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
        echo "==> Installing $requirements"
        python -m pip install --quiet --disable-pip-version-check -r "$requirements"
        echo "$digest" > "$stamp"
    fi
}

port_open() {
    python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $1)))"
}

wait_for_port() {
    # $1 port, $2 name
    for _ in $(seq 1 60); do
        port_open "$1" && return 0
        sleep 0.5
    done
    echo "ERROR: $2 did not start on 127.0.0.1:$1; start it by hand and run again." >&2
    return 1
}

ensure_postgres() {
    port_open 5432 && return 0
    echo "==> Starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    wait_for_port 5432 PostgreSQL
}

ensure_redis() {
    port_open 6379 && return 0
    echo "==> Starting Redis"
    mkdir -p var/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir "$PWD/var/redis" --logfile "$PWD/var/redis/redis.log"
    wait_for_port 6379 Redis
}

ensure_rabbitmq() {
    port_open 5672 && return 0
    echo "==> Starting RabbitMQ"
    rabbitmq-server -detached
    wait_for_port 5672 RabbitMQ
}

ensure_chromium() {
    # Browser tests drive Debian's chromium through chromium-driver; a CI machine starts without.
    [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && return 0
    echo "==> Installing chromium and chromium-driver (browser tests)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        chromium chromium-driver >/dev/null; } ||
        echo "WARNING: could not install chromium; the browser tests will fail and say so." >&2
}

ensure_wrk() {
    # The enroll benchmark (and its smoke test) drives gunicorn with Debian's wrk.
    command -v wrk >/dev/null && return 0
    echo "==> Installing wrk (load generator of the enroll benchmark)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null; } ||
        echo "WARNING: could not install wrk; the enroll benchmark's smoke test will fail and say so." >&2
}
