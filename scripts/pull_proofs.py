"""The pull proofs (see scripts/prove-pull): a fake API on loopback, an engine polling it, driven and checked."""
import argparse, hashlib, hmac, http.server, json, os, sqlite3, subprocess, sys, threading, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delivery_proofs import Engine, SECRET, free_port, wait_until, wrk, BENCH_CONNECTOR  # noqa: E402

BASE = int(time.time()) - 200_000   # every record is older than any run's start


class FakeAPI:
    """A paged list of `count` records (ids r-000001..., created BASE+i, ascending), `per_page` a page, filtered by
    created[gte] and paged by starting_after like Stripe's. Every `rate_limit_every`-th request is a 429 with
    Retry-After: 1. `/v1/loop?page=N` repeats its second page forever. Counts what it served."""

    def __init__(self, count, per_page=100, rate_limit_every=0):
        self.count, self.per_page, self.every = count, per_page, rate_limit_every
        self.requests = 0
        self.limited = 0
        self.pages = 0
        self.lock = threading.Lock()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True   # headers and body are two writes: without this, each page waits 40 ms for an ACK

            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                with api.lock:
                    api.requests += 1
                    limited = api.every and api.requests % api.every == 0
                    if limited:
                        api.limited += 1
                    else:
                        api.pages += 1
                if limited:
                    return self.answer(429, {"error": "slow down"}, {"Retry-After": "1"})
                if url.path == "/v1/loop":
                    page = int(query.get("page", "1"))
                    records = [{"id": f"loop-{min(page, 2)}-{i}", "created": BASE + i} for i in range(3)]
                    return self.answer(200, {"data": records, "has_more": True})
                start = 0
                if "created[gte]" in query:
                    start = max(0, int(float(query["created[gte]"])) - BASE)
                if "starting_after" in query:
                    start = max(start, int(query["starting_after"][2:]) + 1)
                end = min(api.count, start + int(query.get("limit", api.per_page)))
                records = [{"id": f"r-{i:06d}", "created": BASE + i, "amount": i % 1000} for i in range(start, end)]
                self.answer(200, {"data": records, "has_more": end < api.count})

            def answer(self, status, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass   # an engine killed mid-request resets its connection: expected here, not worth a traceback

        self.port = free_port()
        self.server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def poll_connector(name, port, path="/v1/records", paginate=None, max_pages=10000):
    paginate = paginate or '{ type: cursor, param: starting_after, value: $last.id, stop: "$not($response.has_more)" }'
    return f"""
connector: {name}
version: 1
source:
  poll:
    every: 1h
    call: api.list
    query: {{ limit: "100", "created[gte]": "{{% $cursor %}}" }}
    records: data
    event_id: id
    paginate: {paginate}
    cursor: {{ field: created, format: unix, start: {BASE - 10} }}
    max_pages: {max_pages}
targets:
  api:
    base_url: http://127.0.0.1:{port}
    retry: {{ max_attempts: 8, backoff: {{ initial: 100ms, max: 1s }} }}
    operations:
      list: {{ method: GET, path: "{path}" }}
routes:
  - name: large
    when: amount > 100000
    call: api.list
"""


def store_figures(store, connector):
    database = sqlite3.connect(store, timeout=30)
    try:
        total, distinct = database.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events WHERE connector = ?", (connector,)).fetchone()
        row = database.execute("SELECT state FROM pull_state WHERE connector = ?", (connector,)).fetchone()
        return total, distinct, json.loads(row[0]) if row else {}
    finally:
        database.close()


def prove_crash(options, results):
    """50,000 records over 500 pages, a 429 now and then, the engine killed (SIGKILL) twice mid-run and restarted:
    every record exactly one event, the cursor at the last record, the run finished with no failure."""
    count = options.records
    api = FakeAPI(count, rate_limit_every=options.rate_limit_every)
    engine = Engine(options.bin, options.work, {"pull-proof": poll_connector("pull-proof", api.port)})
    started = time.time()
    kills = []
    try:
        engine.start()
        pages = count // 100
        for kill in range(options.kills):
            target = pages * (kill + 1) // (options.kills + 1)
            wait_until(lambda: api.pages >= target, 300, step=0.05)
            committed = store_figures(engine.store, "pull-proof")[0]
            engine.kill()
            kills.append((api.pages, committed))
            print(f"kill -9 #{kill + 1}: after {api.pages} pages served, {committed:,} events committed")
            engine.start()
        done = lambda: (store_figures(engine.store, "pull-proof")[2].get("stats", {}).get("last_success_at") is not None)
        wait_until(done, 600, step=0.2)
        elapsed = time.time() - started
        total, distinct, state = store_figures(engine.store, "pull-proof")
    finally:
        engine.stop()
        api.stop()
    database = sqlite3.connect(engine.store)
    ids = {row[0] for row in database.execute("SELECT event_id FROM events WHERE connector = 'pull-proof'")}
    database.close()
    expected = {f"r-{i:06d}" for i in range(count)}
    cursor = state.get("cursors", {}).get("")
    stats = state.get("stats", {})
    print(f"{count:,} records over {count // 100} pages in {elapsed:.1f} s: {total:,} events ({distinct:,} distinct),"
          f" {api.pages} pages served ({api.pages - count // 100} asked again after the kills), {api.limited} answers 429"
          f" waited out; cursor {cursor}, last record {BASE + count - 1}; stats {json.dumps(stats)}")
    results.append((f"every record is exactly one event ({total:,} events, {distinct:,} distinct, {count:,} records)",
                    total == count and ids == expected))
    results.append((f"the cursor ends at the last record ({cursor} = {BASE + count - 1})", cursor == BASE + count - 1))
    results.append((f"the 429s only slowed the run ({api.limited} waited out, no failed run, run finished)",
                    api.limited > 0 and stats.get("failing_runs") == 0 and "last_error" not in stats and state.get("run") is None))
    results.append((f"the engine was killed mid-run {len(kills)} times", len(kills) == options.kills
                    and all(0 < committed < count for _, committed in kills)))


def prove_repeat(options, results):
    """An API that repeats a page: the run stops with an error naming the page, and keeps what it read."""
    api = FakeAPI(0)
    engine = Engine(options.bin, options.work, {"pull-repeat": poll_connector(
        "pull-repeat", api.port, path="/v1/loop", paginate="{ type: page, param: page }")})
    try:
        run = subprocess.run([engine.bin, "poll", "run", "pull-repeat", "--once", "--connectors", engine.directory,
                              "--env-file", os.path.join(engine.work, "proof.env"), "--store", engine.store],
                             capture_output=True, text=True, timeout=120)
    finally:
        api.stop()
    total, _, state = store_figures(engine.store, "pull-repeat")
    print(f"poll run: exit {run.returncode}: {run.stdout.strip()}")
    results.append(("the run stops with an error naming the repeated page",
                    run.returncode == 1 and "page 3 (http://127.0.0.1:" in run.stdout and "repeats page 2 record for record" in run.stdout))
    results.append((f"what it read before is kept ({total} events) and its place too",
                    total == 6 and (state.get("run") or {}).get("page") == 3))


def prove_files(options, results):
    """A CSV of 10,000 rows with 3 bad ones dropped in a watched folder: 9,997 events, 3 quarantined with their lines."""
    folder = os.path.join(options.work, "drop")
    os.makedirs(folder)
    connector = f"""
connector: files-proof
version: 1
source:
  files: {{ directory: "{folder}", format: csv, event_id: id, every: 1s, settle: 1s }}
targets:
  api:
    base_url: http://127.0.0.1:9
    operations:
      post: {{ method: POST, path: /rows }}
routes:
  - name: never
    when: qty = 'never'
    call: api.post
"""
    engine = Engine(options.bin, options.work, {"files-proof": connector})
    bad = {1001: "1000,too,many,fields", 5002: '5001,ab"c,1', 9999: ",no id,1"}
    lines = ["id,name,qty"]
    for line in range(2, 10_002):
        lines.append(bad.get(line, f"{line - 1},item {line - 1},{line % 7}"))
    engine.start()
    try:
        # Written under a name the engine never reads, then renamed: a file appears whole.
        partial = os.path.join(folder, "rows.csv.part")
        open(partial, "w").write("\n".join(lines) + "\n")
        os.rename(partial, os.path.join(folder, "rows.csv"))
        wait_until(lambda: os.path.exists(os.path.join(folder, "done", "rows.csv")), 120, step=0.2)
    finally:
        engine.stop()
    database = sqlite3.connect(engine.store)
    statuses = dict(database.execute("""SELECT h.status, count(*) FROM events e JOIN event_history h ON h.event_seq = e.seq
        AND h.seq = (SELECT min(seq) FROM event_history WHERE event_seq = e.seq) GROUP BY h.status""").fetchall())
    reasons = [json.loads(row[0])["reason"] for row in database.execute(
        "SELECT detail FROM event_history WHERE status = 'quarantined' ORDER BY seq")]
    database.close()
    print(f"events by first status: {statuses}; quarantined: {reasons}")
    results.append((f"9,997 events stored ({statuses.get('received', 0):,})", statuses.get("received") == 9997))
    results.append(("3 rows quarantined with their line numbers",
                    len(reasons) == 3 and all(f"line {line}:" in reason for line, reason in zip(sorted(bad), reasons))))


def prove_bench(options, results):
    """Records/s a poll ingests against the fake API, beside the webhook ingest rate (wrk) in the same run."""
    count = options.records
    api = FakeAPI(count)
    polls, hooks = [], []
    try:
        for run in range(options.runs):
            work = os.path.join(options.work, f"poll-{run}")
            os.makedirs(work)
            engine = Engine(options.bin, work, {"pull-bench": poll_connector("pull-bench", api.port)})
            engine.start()
            try:
                wait_until(lambda: store_figures(engine.store, "pull-bench")[2].get("stats", {}).get("last_success_at"), 600, step=0.1)
                stats = store_figures(engine.store, "pull-bench")[2]["stats"]
                seconds = (stats["last_success_at"] - stats["last_run_at"]) / 1000
                polls.append(count / seconds)
                print(f"poll run {run + 1}: {count:,} records in {seconds:.2f} s = {count / seconds:,.0f} records/s")
            finally:
                engine.stop()
            body = json.dumps({"type": "push", "padding": "x" * 60}).encode()
            body_file = os.path.join(work, "body.json")
            open(body_file, "wb").write(body)
            signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            hook_work = os.path.join(options.work, f"hook-{run}")
            os.makedirs(hook_work)
            engine = Engine(options.bin, hook_work, {"bench": BENCH_CONNECTOR.format(port=9, condition="type = 'never'")})
            engine.start()
            try:
                rate, non2xx = wrk(engine.port, body_file, signature, f"pull{run}", options.seconds)
                hooks.append(rate)
                print(f"webhook run {run + 1}: {rate:,.0f} events/s (wrk -c64, verified and stored; non-2xx {non2xx})")
            finally:
                engine.stop()
    finally:
        api.stop()
    median = lambda values: sorted(values)[len(values) // 2]
    print(f"median: poll {median(polls):,.0f} records/s; webhook ingest {median(hooks):,.0f} events/s"
          f" (the poll at {median(polls) / median(hooks):.2f}x)")
    results.append(("both measured", bool(polls) and bool(hooks)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["crash", "repeat", "files", "bench"])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--rate-limit-every", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    options = parser.parse_args()
    results = []
    globals()["prove_" + options.scenario](options, results)
    for name, ok in results:
        print(("PASS " if ok else "FAIL ") + name)
    sys.exit(0 if all(ok for _, ok in results) else 1)


if __name__ == "__main__":
    main()
