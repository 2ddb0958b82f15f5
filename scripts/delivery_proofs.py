"""The delivery proofs (see scripts/prove-delivery): an engine and a mock vendor on loopback, driven and checked."""
import argparse, hashlib, hmac, http.client, json, os, signal, socket, sqlite3, subprocess, sys, threading, time

SECRET = "proof-webhook-secret"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"nothing answers on port {port}")


class Vendor:
    def __init__(self, bin_dir, work):
        self.port = free_port()
        self.process = subprocess.Popen([os.path.join(bin_dir, "manifold-mock-vendor"), "--port", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "vendor.log"), "ab"))
        wait_http(self.port, "/_stats")

    def mode(self, **query):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        connection.request("POST", "/_mode?" + "&".join(f"{k}={v}" for k, v in query.items()))
        connection.getresponse().read()

    def log(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", "/_log")
        return [json.loads(line) for line in connection.getresponse().read().decode().splitlines() if line]

    def stop(self):
        self.process.kill()


def connector(name, path, port, prefix, policies, headers="", body='{ id: "{% id %}", sent_ms: "{% sent_ms %}" }'):
    """A connector posting each event to the vendor at prefix/{id}; `headers` and `body` are the route's mapping."""
    headers = f"\n    headers: {headers}" if headers else ""
    return f"""
connector: {name}
version: 1
source:
  webhook:
    path: {path}
    verify: {{ scheme: github, secret: "${{env:PROOF_SECRET}}" }}
    event_id: id
targets:
  vendor:
    base_url: http://127.0.0.1:{port}
{policies}
    operations:
      post: {{ method: POST, path: "{prefix}/{{id}}" }}
routes:
  - name: deliver
    call: vendor.post
    path: {{ id: "{{% id %}}" }}{headers}
    body: {body}
"""


class Engine:
    def __init__(self, bin_dir, work, connectors):
        self.bin = os.path.join(bin_dir, "manifold")
        self.work = work
        self.directory = os.path.join(work, "connectors")
        os.makedirs(self.directory, exist_ok=True)
        for name, text in connectors.items():
            open(os.path.join(self.directory, name + ".yaml"), "w").write(text)
        open(os.path.join(work, "proof.env"), "w").write(f"PROOF_SECRET={SECRET}\n")
        self.store = os.path.join(work, "proof.db")
        self.port = free_port()
        self.process = None

    def start(self):
        log = open(os.path.join(self.work, "engine.log"), "ab")
        self.process = subprocess.Popen([self.bin, "run", "--connectors", self.directory, "--env-file",
                                         os.path.join(self.work, "proof.env"), "--store", self.store,
                                         "--listen", f"127.0.0.1:{self.port}", "--log-level", os.environ.get("PROOF_LOG_LEVEL", "error")],
                                        stdout=log, stderr=log)
        wait_http(self.port, "/healthz")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def jobs(self):
        database = sqlite3.connect(self.store, timeout=10)
        try:
            return dict(database.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
        finally:
            database.close()


def send(port, path, count, threads=8, rate=None, prefix="e", stop_after=120, extra=lambda index: {}):
    """Posts `count` signed events (ids prefix-0..), at most `rate` per second if given; `extra(index)` adds fields.
    Returns acknowledged ids."""
    acknowledged = []
    lock = threading.Lock()
    started = time.time()
    per_thread = [list(range(t, count, threads)) for t in range(threads)]

    def worker(indices):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for index in indices:
            if time.time() - started > stop_after:
                return
            if rate:
                # One reading of the clock: two let the wait turn negative in between (a ValueError).
                wait = started + index / rate - time.time()
                if wait > 0:
                    time.sleep(wait)
            body = json.dumps({"id": f"{prefix}-{index}", "sent_ms": time.time() * 1000, **extra(index)}).encode()
            signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            try:
                connection.request("POST", path, body=body, headers={
                    "Content-Type": "application/json", "X-Hub-Signature-256": signature,
                    "X-GitHub-Delivery": f"{prefix}-{index}"})
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    with lock:
                        acknowledged.append(f"{prefix}-{index}")
            except OSError:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    pool = [threading.Thread(target=worker, args=(indices,)) for indices in per_thread]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return acknowledged


def send_while_killing(engine, options, path, count, **sending):
    """Sends `count` events (see `send`) while killing the engine with SIGKILL --kills times, every --interval seconds,
    restarting it each time. Returns the acknowledged ids and the number of kills."""
    acknowledged = []
    sender = threading.Thread(target=lambda: acknowledged.extend(send(engine.port, path, count, **sending)))
    sender.start()
    kills = 0
    for _ in range(options.kills):
        time.sleep(options.interval)
        engine.kill()
        kills += 1
        engine.start()
    sender.join()
    return acknowledged, kills


def wait_until(check, seconds, step=0.5):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def prove_ratelimit(options, vendor, results):
    engine = Engine(options.bin, options.work, {"limited": connector("limited", "/hooks/limited", vendor.port, "/limited", """
    concurrency: 16
    rate_limit: { requests: 100, per: 10s }""")})
    engine.start()
    try:
        began = time.time()
        acknowledged = send(engine.port, "/hooks/limited", options.events, threads=8)
        print(f"burst: {len(acknowledged)} of {options.events} events acknowledged in {time.time() - began:.1f} s")
        time.sleep(max(0, options.observe - (time.time() - began)))
    finally:
        engine.stop()
    times = sorted(call["t_ms"] for call in vendor.log() if call["path"].startswith("/limited"))
    worst = 0
    j = 0
    for i in range(len(times)):
        while times[i] - times[j] >= 10_000:
            j += 1
        worst = max(worst, i - j + 1)
    span = (times[-1] - times[0]) / 1000 if times else 0
    print(f"vendor saw {len(times)} calls over {span:.1f} s; the busiest 10 s window held {worst} (limit 100)")
    results.append(("no 10 s window over 100 calls", worst <= 100))
    expected = 100 * (int(span // 10) + 1)
    results.append((f"the lane used the rate ({len(times)} calls, at least 90% of {expected})", len(times) >= 0.9 * expected))


def prove_outage(options, vendor, results):
    threshold, open_for, concurrency = 5, 5, 4
    engine = Engine(options.bin, options.work, {"flaky": connector("flaky", "/hooks/flaky", vendor.port, "/flaky", f"""
    concurrency: {concurrency}
    retry: {{ max_attempts: 50, max_elapsed: 10m, backoff: {{ initial: 500ms, max: 5s, jitter: full }} }}
    circuit_breaker: {{ failures: {threshold}, open_for: {open_for}s }}""")})
    engine.start()
    try:
        vendor.mode(prefix="/flaky", status=503, for_ms=int(options.outage * 1000))
        outage_start = time.time() * 1000
        acknowledged = send(engine.port, "/hooks/flaky", options.events, threads=4, rate=50)
        print(f"{len(acknowledged)} events acknowledged during the outage")
        outage_end = outage_start + options.outage * 1000
        done = wait_until(lambda: engine.jobs().get("pending", 0) == 0 and sum(engine.jobs().values()) >= len(acknowledged),
                          options.outage + 180)
        jobs = engine.jobs()
    finally:
        engine.stop()
    calls = [call for call in vendor.log() if call["path"].startswith("/flaky")]
    during = [call for call in calls if call["wall_ms"] < outage_end - 200]
    failed = [call for call in during if call["status"] == 503]
    bound = threshold + concurrency + int(options.outage / open_for) + 1
    delivered_keys = [call["key"] for call in calls if call["status"] == 200]
    duplicates = len(delivered_keys) - len(set(delivered_keys))
    print(f"calls during the {options.outage} s outage: {len(during)} (503: {len(failed)}); bound {bound} = threshold {threshold}"
          f" + concurrency {concurrency} + one probe per {open_for} s")
    print(f"jobs: {jobs}; delivered keys {len(set(delivered_keys))}, duplicates {duplicates}")
    results.append(("calls during the outage within the breaker's bound", len(during) <= bound))
    results.append(("all jobs delivered after recovery", done and jobs.get("delivered", 0) == len(acknowledged)))
    results.append(("no idempotency key delivered twice", duplicates == 0))


def prove_crash(options, vendor, results):
    engine = Engine(options.bin, options.work, {"steady": connector("steady", "/hooks/steady", vendor.port, "/steady", """
    concurrency: 8""")})
    vendor.mode(prefix="/steady", delay_ms=20)
    engine.start()
    acknowledged, kills = send_while_killing(engine, options, "/hooks/steady", options.events, threads=4, rate=500)
    done = wait_until(lambda: engine.jobs().get("pending", 0) == 0, 120)
    jobs = engine.jobs()
    engine.stop()
    database = sqlite3.connect(engine.store)
    stored = {row[0] for row in database.execute("SELECT event_id FROM events")}
    job_events = database.execute("SELECT count(DISTINCT event_seq) FROM jobs").fetchone()[0]
    database.close()
    lost = [event for event in acknowledged if event not in stored]
    delivered_keys = [call["key"] for call in vendor.log() if call["status"] == 200]
    print(f"{kills} kills; {len(acknowledged)} events acknowledged, {len(stored)} stored, {job_events} with jobs;"
          f" jobs {jobs}; vendor got {len(set(delivered_keys))} keys ({len(delivered_keys) - len(set(delivered_keys))} repeats, at-least-once)")
    results.append(("no acknowledged event lost", not lost))
    results.append(("every job ended delivered or dead-lettered", done and set(jobs) <= {"delivered", "dead"}))
    results.append(("every stored event's jobs exist", job_events == len(stored)))
    results.append(("the vendor got every acknowledged event", set(f"steady:{e}:deliver" for e in acknowledged) <= set(delivered_keys)))


def prove_isolation(options, vendor, results):
    policies = """
    timeout: 10s
    concurrency: 8"""
    engine = Engine(options.bin, options.work, {
        "alpha": connector("alpha", "/hooks/alpha", vendor.port, "/a", policies),
        "beta": connector("beta", "/hooks/beta", vendor.port, "/b", policies)})
    engine.start()

    def phase(label, prefix):
        threads = [threading.Thread(target=send, args=(engine.port, "/hooks/alpha", options.rate_a * options.seconds),
                                    kwargs={"threads": 2, "rate": options.rate_a, "prefix": prefix + "a"}),
                   threading.Thread(target=send, args=(engine.port, "/hooks/beta", options.rate_b * options.seconds),
                                    kwargs={"threads": 2, "rate": options.rate_b, "prefix": prefix + "b"})]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(1)
        calls = [call for call in vendor.log() if call["path"].startswith(f"/b/{prefix}b-")]
        return calls

    try:
        baseline_calls = phase("baseline", "base")
        vendor.mode(prefix="/a", delay_ms=5000, status=503)
        slow_calls = phase("A slow and failing", "slow")
    finally:
        engine.stop()

    def latencies(calls):
        database = sqlite3.connect(engine.store)
        sent = {}
        for event_id, body in database.execute("SELECT event_id, body FROM events"):
            sent[event_id] = json.loads(body)["sent_ms"]
        database.close()
        return [call["wall_ms"] - sent[call["key"].split(":")[1]] for call in calls if call["key"].split(":")[1] in sent]

    base = latencies(baseline_calls)
    slow = latencies(slow_calls)
    base_p99, slow_p99 = percentile(base, 0.99), percentile(slow, 0.99)
    print(f"B baseline: {len(base)} calls, p50 {percentile(base, 0.5):.1f} ms, p99 {base_p99:.1f} ms")
    print(f"B while A answers in 5 s with 503: {len(slow)} calls, p50 {percentile(slow, 0.5):.1f} ms, p99 {slow_p99:.1f} ms"
          f" ({slow_p99 / base_p99:.2f}x)")
    results.append(("B delivered everything in both phases", len(base) == options.rate_b * options.seconds
                    and len(slow) == options.rate_b * options.seconds))
    results.append(("B's p99 within 20% of its baseline", slow_p99 <= base_p99 * 1.2))


BENCH_CONNECTOR = """
connector: bench
version: 1
source:
  webhook:
    path: /hooks/bench
    verify: {{ scheme: github, secret: "${{env:PROOF_SECRET}}" }}
    event_id: $headers.'x-bench-id'
    event_type: type
targets:
  vendor:
    base_url: http://127.0.0.1:{port}
    concurrency: 64
    operations:
      post: {{ method: POST, path: /fast }}
routes:
  - name: deliver
    when: {condition}
    call: vendor.post
    body: "{{% $ %}}"
"""


def store_latencies(store, since_seq=0):
    """(first received, last delivered, end-to-end ms per delivered job) from the store."""
    database = sqlite3.connect(store, timeout=30)
    rows = database.execute("""SELECT e.received_at, j.updated_at FROM jobs j JOIN events e ON e.seq = j.event_seq
                               WHERE j.state = 'delivered' AND e.seq > ?""", (since_seq,)).fetchall()
    database.close()
    if not rows:
        return 0, 0, []
    return min(r[0] for r in rows), max(r[1] for r in rows), [r[1] - r[0] for r in rows]


def max_seq(store):
    database = sqlite3.connect(store, timeout=30)
    try:
        return database.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    finally:
        database.close()


def wrk(port, body_file, signature, tag, seconds, per_thread=None):
    """`wrk` posting for `seconds`; with `per_thread`, each of its two threads stops once that many of its requests
    are answered (wrk itself still waits out `seconds`)."""
    environment = dict(os.environ, BENCH_BODY=body_file, BENCH_SIGNATURE=signature, BENCH_TAG=tag)
    if per_thread:
        environment["BENCH_MAX_PER_THREAD"] = str(per_thread)
    output = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "-s", "benchmarks/fixtures/ingress/post.lua",
                             f"http://127.0.0.1:{port}/hooks/bench"], env=environment, capture_output=True, text=True).stdout
    rate = float(next(line.split()[1] for line in output.splitlines() if line.startswith("Requests/sec")))
    non2xx = next((int(line.split()[-1]) for line in output.splitlines() if "Non-2xx" in line), 0)
    return rate, non2xx


def writer_thread(pid):
    """The store writer's thread: by its name (`store-writer`), or, in a build from before it was named, the thread
    started just before the HTTP server's first event loop (the store opens first)."""
    tasks = sorted(int(task) for task in os.listdir(f"/proc/{pid}/task"))
    names = {task: open(f"/proc/{pid}/task/{task}/comm").read().strip() for task in tasks}
    named = [task for task in tasks if names[task] == "store-writer"]
    if named:
        return named[0]
    loops = [index for index, task in enumerate(tasks) if names[task].startswith("NIO-SGLTN")]
    return tasks[loops[0] - 1] if loops and loops[0] > 0 else None


def cpu_seconds(pid, tid=None):
    """User and system CPU time a process (or, with `tid`, one of its threads) has used so far, from /proc."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    fields = open(path).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


DRAIN_BACKLOG = 20_000


def drain(bin_dir, work, connector, body_file, signature, tag, seconds):
    """Delivery alone: `wrk` posts DRAIN_BACKLOG events to an engine whose target allows one call an hour, so every job waits
    in the store; that engine stops, and one without the limit starts on the same store, claims the backlog and
    delivers it. Returns (deliveries/s, 0, 0, engine CPU us per delivery, backlog, the writer thread's CPU us per
    delivery), shaped as the other kinds' figures (no latencies), from the restarted engine's deliveries (first to
    last, as recorded) and its CPU time from when it answered."""
    held = connector.replace("    concurrency: 64\n", "    concurrency: 64\n    rate_limit: { requests: 1, per: 1h }\n")
    assert held != connector, "the benchmark connector's target has no `concurrency: 64` line to put a limit after"
    engine = Engine(bin_dir, work, {"bench": held})
    engine.start()
    try:
        # The same backlog for every build (DRAIN_BACKLOG, and the requests in flight when wrk's threads stop): a build
        # that ingested faster left a larger one, and drained it into larger tables and indexes.
        wrk(engine.port, body_file, signature, tag, 2 * seconds, per_thread=DRAIN_BACKLOG // 2)
    finally:
        engine.stop()
    engine = Engine(bin_dir, work, {"bench": connector})
    backlog = engine.jobs().get("pending", 0)
    engine.start()
    try:
        started = int(time.time() * 1000)
        writer = writer_thread(engine.process.pid)
        writer_seconds = (lambda: cpu_seconds(engine.process.pid, writer)) if writer else (lambda: 0.0)
        cpu_before, writer_before = cpu_seconds(engine.process.pid), writer_seconds()
        wait_until(lambda: engine.jobs().get("pending", 0) == 0, 300, step=0.2)
        cpu = cpu_seconds(engine.process.pid) - cpu_before
        writer_cpu = writer_seconds() - writer_before
        database = sqlite3.connect(engine.store, timeout=30)
        count, first, last = database.execute("SELECT count(*), min(updated_at), max(updated_at) FROM jobs"
                                              " WHERE state = 'delivered' AND updated_at >= ?", (started,)).fetchone()
        database.close()
    finally:
        engine.stop()
    return count / (max(1, (last or 0) - (first or 0)) / 1000), 0, 0, 1e6 * cpu / max(1, count), backlog, 1e6 * writer_cpu / max(1, count)


def prove_throughput(options, vendor, results):
    """Ingest only against ingested + delivered, delivery alone (a backlog drained), and at a steady 1,000 events/s.
    With --baseline-bin, an earlier build runs the same in the same invocation, the two alternating which goes first,
    and each run's ratio is printed: on a shared machine the rate of one build moves by 2x from run to run, its engine
    CPU per event much less."""
    body = json.dumps({"type": "push", "padding": "x" * 900}).encode()
    body_file = os.path.join(options.work, "body.json")
    open(body_file, "wb").write(body)
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    builds = [("now", options.bin)]
    if options.baseline_bin:
        baseline = options.baseline_bin
        builds.append(("before", os.path.dirname(baseline) if os.path.isfile(baseline) else baseline))
    figures = {label: {"baseline": [], "delivered": [], "drain": [], "steady": []} for label, _ in builds}
    for kind, condition in [("baseline", "type = 'never'"), ("delivered", "type = 'push'"), ("drain", "type = 'push'")]:
        for run in range(options.runs):
            for label, bin_dir in (builds if run % 2 == 0 else builds[::-1]):
                work = os.path.join(options.work, f"{label}-{kind}-{run}")
                os.makedirs(work)
                connector = BENCH_CONNECTOR.format(port=vendor.port, condition=condition)
                if kind == "drain":
                    figures[label][kind].append(drain(bin_dir, work, connector, body_file, signature, f"{label}{kind}{run}", options.seconds))
                    rate, _, _, per_event, backlog, writer = figures[label][kind][-1]
                    print(f"drain run {run + 1}" + (f" ({label})" if len(builds) > 1 else "") +
                          f": a backlog of {backlog:,} delivered at {rate:,.0f} events/s by a restarted engine;"
                          f" engine CPU {per_event:.0f} us a delivery, {writer:.0f} us of it on the store's writer thread"
                          + (f" (SHORT of the {DRAIN_BACKLOG:,} every build should drain: it ingested under"
                             f" {DRAIN_BACKLOG // (2 * options.seconds):,}/s, and the runs do not compare)"
                             if backlog < DRAIN_BACKLOG else ""))
                    continue
                engine = Engine(bin_dir, work, {"bench": connector})
                engine.start()
                try:
                    cpu_before = cpu_seconds(engine.process.pid)
                    rate, non2xx = wrk(engine.port, body_file, signature, f"{label}{kind}{run}", options.seconds)
                    name = f"{kind} run {run + 1}" + (f" ({label})" if len(builds) > 1 else "")
                    if kind == "delivered":
                        wait_until(lambda: engine.jobs().get("pending", 0) == 0, 300, step=0.2)
                        cpu = cpu_seconds(engine.process.pid) - cpu_before
                        first, last, latencies = store_latencies(engine.store)
                        delivered = len(latencies)
                        span = max(1, last - first) / 1000
                        per_event = 1e6 * cpu / max(1, delivered)
                        figures[label][kind].append((delivered / span, percentile(latencies, 0.5), percentile(latencies, 0.99), per_event))
                        print(f"{name}: ingested {rate:,.0f}/s, delivered {delivered:,} in {span:.1f} s ="
                              f" {delivered / span:,.0f} events/s end to end; latency p50 {percentile(latencies, 0.5):.0f} ms,"
                              f" p99 {percentile(latencies, 0.99):.0f} ms; engine CPU {per_event:.0f} us per delivered event; non-2xx {non2xx}")
                    else:
                        per_event = 1e6 * (cpu_seconds(engine.process.pid) - cpu_before) / max(1, rate * options.seconds)
                        figures[label][kind].append((rate, 0, 0, per_event))
                        print(f"{name} (ingest only, no route matches): {rate:,.0f} events/s;"
                              f" engine CPU {per_event:.0f} us an event; non-2xx {non2xx}")
                finally:
                    engine.stop()
    # At a steady 1,000 events/s.
    for label, bin_dir in builds:
        work = os.path.join(options.work, f"{label}-steady")
        os.makedirs(work)
        engine = Engine(bin_dir, work, {"bench": BENCH_CONNECTOR.format(port=vendor.port, condition="type = 'push'")})
        engine.start()
        try:
            for run in range(options.runs):
                since = max_seq(engine.store)
                acknowledged = send_bench(engine.port, body, signature, 1000 * options.seconds, rate=1000, tag=f"{label}steady{run}")
                wait_until(lambda: engine.jobs().get("pending", 0) == 0, 120, step=0.2)
                _, _, latencies = store_latencies(engine.store, since)
                figures[label]["steady"].append((percentile(latencies, 0.5), percentile(latencies, 0.99)))
                print(f"steady run {run + 1}" + (f" ({label})" if len(builds) > 1 else "") +
                      f": {acknowledged} events at 1,000/s, delivered {len(latencies)}; latency p50"
                      f" {figures[label]['steady'][-1][0]:.0f} ms, p99 {figures[label]['steady'][-1][1]:.0f} ms")
        finally:
            engine.stop()
    median = lambda values: sorted(values)[len(values) // 2]
    for label, _ in builds:
        mine = figures[label]
        print(f"median{'' if len(builds) == 1 else f' ({label})'}: delivery alone (a backlog drained)"
              f" {median([f[0] for f in mine['drain']]):,.0f} events/s, {median([f[3] for f in mine['drain']]):.0f} us of"
              f" engine CPU a delivery, {median([f[5] for f in mine['drain']]):.0f} us of it on the store's writer thread")
        baseline, delivered = median([f[0] for f in mine["baseline"]]), median([f[0] for f in mine["delivered"]])
        print(f"median{'' if len(builds) == 1 else f' ({label})'}: ingest only {baseline:,.0f}/s,"
              f" {median([f[3] for f in mine['baseline']]):.0f} us of engine CPU an event; ingested + delivered end to end"
              f" {delivered:,.0f} events/s ({delivered / baseline:.2f}x the ingest-only baseline),"
              f" {median([f[3] for f in mine['delivered']]):.0f} us of engine CPU per delivered event;"
              f" at max p50 {median([f[1] for f in mine['delivered']]):.0f} ms p99 {median([f[2] for f in mine['delivered']]):.0f} ms")
        print(f"median at 1,000/s{'' if len(builds) == 1 else f' ({label})'}: p50 {median([s[0] for s in mine['steady']]):.0f} ms,"
              f" p99 {median([s[1] for s in mine['steady']]):.0f} ms")
    if len(builds) > 1:
        pairs = lambda kind: list(zip(figures["now"][kind], figures["before"][kind]))   # the same run's two builds
        faster = lambda kind: ", ".join(f"{now[0] / before[0]:.2f}x" for now, before in pairs(kind))
        less_cpu = lambda kind: ", ".join(f"{before[3] / now[3]:.2f}x" for now, before in pairs(kind))
        print(f"now against before, run by run: end to end {faster('delivered')}; engine CPU per delivered event"
              f" {less_cpu('delivered')} less; ingest only {faster('baseline')}, CPU an event {less_cpu('baseline')} less")
        print(f"now against before, run by run, delivery alone: {faster('drain')}; engine CPU a delivery {less_cpu('drain')} less;"
              f" the writer thread's CPU a delivery " + ", ".join(f"{before[5] / max(1e-9, now[5]):.2f}x" for now, before in pairs("drain")) + " less")
    mine = figures["now"]
    baseline, delivered = median([f[0] for f in mine["baseline"]]), median([f[0] for f in mine["delivered"]])
    p99 = median([s[1] for s in mine["steady"]])
    results.append((f"at least 5,000 events/s end to end ({delivered:,.0f})", delivered >= 5000))
    results.append((f"end to end at least 0.6x the ingest-only rate ({delivered / baseline:.2f}x)", delivered / baseline >= 0.6))
    results.append((f"p99 under 50 ms at 1,000/s ({p99:.0f} ms)", p99 < 50))


BACKLOG_CONNECTOR = """
connector: backlog
version: 1
source:
  webhook:
    path: /hooks/bench
    verify: {{ scheme: github, secret: "${{env:PROOF_SECRET}}" }}
    event_id: $headers.'x-bench-id'
targets:
  vendor:
    base_url: http://127.0.0.1:{port}
    concurrency: 64
    retry: {{ max_attempts: 100, max_elapsed: 24h, backoff: {{ initial: 1s, max: 2s, jitter: equal }} }}
    circuit_breaker: {{ failures: 5, open_for: 1s }}
    operations:
      post: {{ method: POST, path: /backlog }}
routes:
  - name: deliver
    call: vendor.post
    body: "{{% $ %}}"
"""


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def prove_backlog(options, vendor, results):
    """The vendor is down while --events events arrive: the engine's memory stays flat (RSS at most twice the idle
    RSS + 50 MiB), every event is acknowledged, and every job is delivered once after the vendor returns."""
    body = json.dumps({"type": "push", "padding": "x" * 400}).encode()
    body_file = os.path.join(options.work, "body.json")
    open(body_file, "wb").write(body)
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    vendor.mode(prefix="/backlog", status=503)
    engine = Engine(options.bin, options.work, {"backlog": BACKLOG_CONNECTOR.format(port=vendor.port)})
    engine.start()
    try:
        time.sleep(2)   # a settled idle figure, not synchronisation
        idle = rss_mib(engine.process.pid)
        print(f"idle RSS {idle:.1f} MiB")
        peak = idle
        started = time.time()
        target = options.events
        while max_seq(engine.store) < target and time.time() - started < options.seconds * 60:
            rate, non2xx = wrk(engine.port, body_file, signature, f"b{int(time.time() * 1000)}", 10)
            peak = max(peak, rss_mib(engine.process.pid))
            print(f"  {max_seq(engine.store):,} events stored ({rate:,.0f}/s, non-2xx {non2xx}); RSS {rss_mib(engine.process.pid):.1f} MiB",
                  flush=True)
        stored = max_seq(engine.store)
        pending = engine.jobs().get("pending", 0)
        held = rss_mib(engine.process.pid)
        peak = max(peak, held)
        print(f"backlog: {stored:,} events, {pending:,} jobs pending; RSS {held:.1f} MiB (peak {peak:.1f}; idle {idle:.1f})")
        vendor.mode(prefix="/backlog", status=200)
        returned = time.time()
        peaks = [peak]

        def drained_check():
            peaks.append(rss_mib(engine.process.pid))   # the peak while delivering counts too
            return engine.jobs().get("pending", 0) == 0

        drained = wait_until(drained_check, options.seconds * 60, step=2)
        peak = max(peaks)
        jobs = engine.jobs()
        print(f"after the vendor returned: {jobs} in {time.time() - returned:.0f} s; RSS {rss_mib(engine.process.pid):.1f} MiB"
              f" (peak over the whole run {peak:.1f} MiB)")
    finally:
        engine.stop()
    stored = max_seq(engine.store)   # again, now that the last acknowledged requests are committed
    # Each job answered 200 once: from the attempt records (the vendor's own log of a million calls is too large to fetch).
    database = sqlite3.connect(engine.store, timeout=30)
    try:
        calls, distinct = database.execute(
            "SELECT count(*), count(DISTINCT job_seq) FROM job_attempts WHERE response_status = 200").fetchone()
    finally:
        database.close()
    limit = 2 * idle + 50
    results.append((f"{stored:,} events stored (at least {target:,})", stored >= target))
    results.append((f"peak RSS {peak:.1f} MiB <= 2 x idle ({idle:.1f}) + 50 = {limit:.1f} MiB", peak <= limit))
    results.append((f"every job delivered after the vendor returned ({jobs.get('delivered', 0):,} of {stored:,})",
                    drained and jobs.get("delivered", 0) == stored))
    results.append((f"each once ({calls:,} calls answered 200, {distinct:,} distinct jobs)", calls == distinct == stored))


def send_bench(port, body, signature, count, rate, tag, threads=4):
    acknowledged = [0]
    lock = threading.Lock()
    started = time.time()

    def worker(offset):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for index in range(offset, count, threads):
            # One reading of the clock: reading it twice let the wait turn negative in between (a ValueError that
            # ended this sender, and the steady phase sent fewer events than it said).
            wait = started + index / rate - time.time()
            if wait > 0:
                time.sleep(wait)
            if time.time() - started > count / rate + 30:
                return
            connection.request("POST", "/hooks/bench", body=body, headers={
                "Content-Type": "application/json", "X-Hub-Signature-256": signature, "X-Bench-Id": f"{tag}-{index}"})
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                with lock:
                    acknowledged[0] += 1

    pool = [threading.Thread(target=worker, args=(offset,)) for offset in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return acknowledged[0]



FLOW_CONNECTOR = """
connector: flows
version: 1
source:
  webhook:
    path: /hooks/flows
    verify: {{ scheme: github, secret: "${{env:PROOF_SECRET}}" }}
    event_id: id
targets:
  vendor:
    base_url: http://127.0.0.1:{port}
    concurrency: 16
    retry: {{ max_attempts: 6, backoff: {{ initial: 200ms, max: 1s }} }}
    operations:
      a: {{ method: POST, path: "/a/{{id}}" }}
      b: {{ method: POST, path: "/b/{{kind}}/{{id}}" }}
      c: {{ method: POST, path: "/c/{{id}}" }}
      alert: {{ method: POST, path: "/alert/{{id}}" }}
      one: {{ method: POST, path: "/one/{{id}}" }}
routes:
  - name: flow
    when: kind != 'single'
    steps:
      - name: a
        call: vendor.a
        path: {{ id: "{{% id %}}" }}
        body: {{ id: "{{% id %}}" }}
      - name: b
        call: vendor.b
        path: {{ id: "{{% id %}}", kind: "{{% kind %}}" }}
        body: {{ a_ok: "{{% $steps.a.body.ok %}}" }}
      - name: c
        call: vendor.c
        path: {{ id: "{{% id %}}" }}
        body: {{ b_status: "{{% $steps.b.status %}}" }}
    on_failure:
      - name: alert
        call: vendor.alert
        path: {{ id: "{{% id %}}" }}
        body: {{ step: "{{% $failure.step %}}" }}
  - name: single
    when: kind = 'single'
    call: vendor.one
    path: {{ id: "{{% id %}}" }}
    body: {{ id: "{{% id %}}" }}
"""


def flow_jobs(store):
    """Every job of the flows connector: (event id, job id, state, handler, only) and its delivered calls' completion
    times by step."""
    database = sqlite3.connect(store, timeout=10)
    try:
        jobs = []
        for event_id, job_id, state, flow in database.execute(
                "SELECT e.event_id, j.id, j.state, j.flow FROM jobs j JOIN events e ON e.seq = j.event_seq"):
            progress = json.loads(flow) if flow else {}
            jobs.append((event_id, job_id, state, progress.get("handler", "steps"), progress.get("only", False)))
        completed = {}
        for event_id, at, duration, request in database.execute(
                "SELECT e.event_id, a.at, a.duration_ms, a.request FROM job_attempts a JOIN jobs j ON j.seq = a.job_seq"
                " JOIN events e ON e.seq = j.event_seq WHERE a.class = 'delivered' AND a.request IS NOT NULL"):
            step = json.loads(request).get("step")
            if step:
                completed[(event_id, step)] = at + duration
        return jobs, completed
    finally:
        database.close()


def prove_flows(options, vendor, results):
    """Three-step flows under load with kill -9 mid-flow: every flow finishes, no completed step is called again,
    and the failure steps run exactly for the flows that dead-lettered."""
    engine = Engine(options.bin, options.work, {"flows": FLOW_CONNECTOR.format(port=vendor.port)})
    for prefix in ["/a/", "/b/ok/", "/c/"]:
        vendor.mode(prefix=prefix, delay_ms=15)
    vendor.mode(prefix="/b/bad/", status=400)
    engine.start()
    kind = lambda index: {"kind": "bad" if index % 10 == 7 else "ok"}
    acknowledged, kills = send_while_killing(engine, options, "/hooks/flows", options.events, threads=4, rate=options.rate,
                                             prefix="f", extra=kind)
    done = wait_until(lambda: engine.jobs().get("pending", 0) == 0, 240)
    jobs_by_state = engine.jobs()
    engine.stop()
    jobs, completed = flow_jobs(engine.store)
    log = vendor.log()
    main = {event: state for event, _, state, handler, only in jobs if handler == "steps" and not only}
    failure_jobs = {event: state for event, _, state, handler, only in jobs if handler == "on_failure"}
    bad = {event for event in acknowledged if int(event.split("-")[1]) % 10 == 7}
    dead = {event for event, state in main.items() if state == "dead"}
    # A call to a step whose completion was already recorded (the vendor's clock and the store's are one machine's).
    calls_by_key = {}
    for call in log:
        calls_by_key.setdefault(call["key"], []).append(call)
    again = []
    for (event, step), finished in completed.items():
        prefix = "alert" if step == "alert" else step
        for call in calls_by_key.get(f"flows:{event}:flow/{'on_failure/' if step == 'alert' else ''}{step}", []):
            if call["wall_ms"] > finished + 5:
                again.append((event, step, call["wall_ms"] - finished))
    repeats = sum(len(calls) - 1 for calls in calls_by_key.values() if len(calls) > 1)
    alerts = {call["path"].split("/")[2] for call in log if call["path"].startswith("/alert/")}
    print(f"{kills} kills; {len(acknowledged)} events acknowledged; flows {len(main)} "
          f"({sum(1 for s in main.values() if s == 'delivered')} delivered, {len(dead)} dead-lettered); failure-step jobs "
          f"{len(failure_jobs)} ({sum(1 for s in failure_jobs.values() if s == 'delivered')} delivered); jobs {jobs_by_state}")
    print(f"vendor: {len(log)} calls, {len(calls_by_key)} idempotency keys, {repeats} repeated with the same key (a call in flight"
          f" when the engine was killed); calls to a step after its completion was recorded: {len(again)}")
    results.append(("every flow finished (none pending)", done and jobs_by_state.get("pending", 0) == 0))
    results.append(("every acknowledged event's flow ended", set(acknowledged) <= set(main)))
    results.append(("no completed step was called again", not again))
    results.append(("the flows with a refused step dead-lettered, the others delivered",
                    dead == bad & set(main) and all(state == "delivered" for event, state in main.items() if event not in bad)))
    results.append(("the failure steps ran exactly for the dead-lettered flows",
                    set(failure_jobs) == dead and alerts == dead and all(s == "delivered" for s in failure_jobs.values())))


FOREACH_CONNECTOR = """
connector: lines
version: 1
source:
  webhook:
    path: /hooks/lines
    verify: {{ scheme: github, secret: "${{env:PROOF_SECRET}}" }}
    event_id: id
targets:
  vendor:
    base_url: http://127.0.0.1:{port}
    concurrency: {concurrency}
    rate_limit: {{ requests: {rate}, per: 1s }}
    retry: {{ max_attempts: 3, backoff: {{ initial: 100ms, max: 200ms }} }}
    operations:
      line: {{ method: POST, path: "/line/{{order}}/{{sku}}" }}
routes:
  - name: order
    steps:
      - name: lines
        for_each: items
        max_items: 1000
        on_element_failure: continue
        call: vendor.line
        path: {{ order: "{{% id %}}", sku: "{{% $item.sku %}}" }}
        body: {{ quantity: "{{% $item.quantity %}}", position: "{{% $index %}}" }}
"""


def prove_foreach(options, vendor, results):
    """Orders of 1,000 lines each: one call per line, within the target's rate limit and concurrency; the one line the
    vendor refuses is a dead letter of its own and its order is delivered."""
    rate, concurrency, orders, delay = options.line_rate, 4, 3, 30
    engine = Engine(options.bin, options.work, {"lines": FOREACH_CONNECTOR.format(port=vendor.port, rate=rate, concurrency=concurrency)})
    vendor.mode(prefix="/line/", delay_ms=delay)
    for order in range(orders):
        vendor.mode(prefix=f"/line/o-{order}/SKU-500", status=400)
    engine.start()
    try:
        items = lambda index: {"items": [{"sku": f"SKU-{n}", "quantity": 1 + n % 3} for n in range(1000)]}
        began = time.time()
        acknowledged = send(engine.port, "/hooks/lines", orders, threads=orders, prefix="o", extra=items)
        done = wait_until(lambda: engine.jobs().get("pending", 0) == 0, 60 + 3 * 1000 / rate)
        span = time.time() - began
        jobs = engine.jobs()
    finally:
        engine.stop()
    calls = sorted((call["t_ms"], call["path"], call["key"], call["status"]) for call in vendor.log() if call["path"].startswith("/line/"))
    times = [call[0] for call in calls]
    worst, j = 0, 0
    for i in range(len(times)):
        while times[i] - times[j] >= 1000:
            j += 1
        worst = max(worst, i - j + 1)
    # Calls in flight at once: each is answered `delay` ms after it arrives.
    overlap = 0
    for i in range(len(times)):
        overlap = max(overlap, sum(1 for t in times[max(0, i - 50):i + 1] if times[i] - t < delay))
    keys = [call[2] for call in calls]
    refused = [call for call in calls if call[3] == 400]
    print(f"{len(acknowledged)} orders of 1,000 lines; {len(calls)} calls in {span:.1f} s; busiest 1 s window {worst} (limit {rate});"
          f" at most {overlap} in flight (concurrency {concurrency}); jobs {jobs}; {len(refused)} refused calls")
    results.append(("every order's flow ended and one dead letter per refused line", done and jobs.get("delivered", 0) == orders
                    and jobs.get("dead", 0) == orders))
    results.append((f"one call per line, each with its own key ({len(set(keys))} keys)",
                    len(set(keys)) == orders * 1000 and len(calls) - len(refused) >= orders * 999))
    results.append((f"no 1 s window over the rate limit ({worst} <= {rate})", worst <= rate))
    results.append((f"never more calls in flight than the concurrency ({overlap} <= {concurrency})", overlap <= concurrency))


FLOW_BENCH = """
connector: bench
version: 1
source:
  webhook:
    path: /hooks/bench
    verify: {{ scheme: github, secret: "${{env:PROOF_SECRET}}" }}
    event_id: $headers.'x-bench-id'
targets:
  vendor:
    base_url: http://127.0.0.1:{port}
    concurrency: 64
    operations:
      post: {{ method: POST, path: /bench }}
routes:
{route}
"""

SINGLE_ROUTE = """  - name: single
    call: vendor.post
    body: { n: 1 }"""

FLOW_ROUTE = """  - name: three
    steps:
      - { name: a, call: vendor.post, body: { n: 1 } }
      - { name: b, call: vendor.post, body: { a: "{% $steps.a.status %}" } }
      - { name: c, call: vendor.post, body: { b: "{% $steps.b.status %}" } }"""


def prove_flowbench(options, vendor, results):
    """Events/s delivered end to end: a three-step flow against a one-call route, each run on a fresh engine."""
    body = json.dumps({"type": "push", "padding": "x" * 900}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    figures = {"single": [], "three": []}
    for run in range(options.runs):
        for kind, route in [("single", SINGLE_ROUTE), ("three", FLOW_ROUTE)]:
            work = os.path.join(options.work, f"{kind}-{run}")
            os.makedirs(work)
            engine = Engine(options.bin, work, {"bench": FLOW_BENCH.format(port=vendor.port, route=route)})
            engine.start()
            try:
                began = time.time()
                acknowledged = send_bench(engine.port, body, signature, options.events, rate=100_000, tag=f"{kind}{run}")
                done = wait_until(lambda: engine.jobs().get("pending", 0) == 0, 600, step=0.1)
                span = time.time() - began
                delivered = engine.jobs().get("delivered", 0)
            finally:
                engine.stop()
            figures[kind].append(delivered / span)
            print(f"run {run + 1} {kind}: {acknowledged} events, {delivered} delivered in {span:.1f} s = {delivered / span:,.0f} events/s"
                  + ("" if done else " (did not finish)"))
    median = lambda values: sorted(values)[len(values) // 2]
    single, three = median(figures["single"]), median(figures["three"])
    print(f"median: one call {single:,.0f} events/s; three-step flow {three:,.0f} events/s ({three / single:.2f}x;"
          f" {3 * three:,.0f} calls/s against {single:,.0f})")
    results.append(("both finished", all(figures.values())))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["ratelimit", "outage", "crash", "isolation", "throughput", "backlog", "flows", "foreach",
                                             "flowbench"])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--events", type=int)
    parser.add_argument("--observe", type=float, default=35)
    parser.add_argument("--outage", type=float, default=60)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--interval", type=float, default=2)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rate-a", type=int, default=20)
    parser.add_argument("--rate-b", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--line-rate", type=int, default=100)
    parser.add_argument("--baseline-bin", help="throughput: an earlier build (its folder, or its manifold) run beside --bin")
    options = parser.parse_args()
    options.events = options.events or {"ratelimit": 10_000, "outage": 500, "crash": 3000, "isolation": 0, "throughput": 0,
                                       "backlog": 1_000_000, "flows": 2000, "foreach": 3, "flowbench": 5000}[options.scenario]
    vendor = Vendor(options.bin, options.work)
    results = []
    try:
        globals()["prove_" + options.scenario](options, vendor, results)
    finally:
        vendor.stop()
    for name, ok in results:
        print(("PASS " if ok else "FAIL ") + name)
    sys.exit(0 if all(ok for _, ok in results) else 1)


if __name__ == "__main__":
    main()
