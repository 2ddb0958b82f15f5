"""The hot-reload proof (see scripts/prove-reload): 100 connectors under sustained load, their files rewritten 100
times (valid and invalid, alternating) while events arrive; then every acknowledged event must have been delivered
exactly once, by a plan that was valid and live at the time, and every reload's latency is reported."""
import argparse, hashlib, hmac, http.client, json, os, random, sqlite3, sys, threading, time

from delivery_proofs import Engine, SECRET, Vendor, connector as proof_connector, percentile, wait_until

ADMIN_TOKEN = "proof-admin-token"


def connector(index, port, generation):
    """Connector c{index}: its route tags every call with the generation of the file that mapped it."""
    name = f"c{index:03d}"
    return f"# generation {generation}" + proof_connector(
        name, f"/hooks/{name}", port, f"/{name}", "    concurrency: 4",
        headers=f'{{ X-Proof-Tag: "{generation}" }}', body=f'{{ id: "{{% id %}}", generation: {generation} }}')


# Four ways a file is wrong: YAML, schema, meaning, a secret that does not resolve.
BREAKAGES = [
    ("invalid YAML", lambda text: text.replace("version: 1", "version: [", 1)),
    ("schema", lambda text: text.replace("concurrency: 4", "concurrency: four")),
    ("unknown operation", lambda text: text.replace("call: vendor.post", "call: vendor.pots")),
    ("unset secret", lambda text: text.replace("${env:PROOF_SECRET}", "${env:PROOF_SECRET_UNSET}")),
]


def admin(port, method, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, headers={"Authorization": "Bearer " + ADMIN_TOKEN})
    response = connection.getresponse()
    return response.status, response.read().decode()


class Load:
    """Signed events to random connectors at `rate` per second until stopped; remembers what was acknowledged."""

    def __init__(self, port, connectors, rate, threads=4):
        self.port, self.connectors, self.rate, self.threads = port, connectors, rate, threads
        self.acknowledged = []   # (connector, event id)
        self.refused = []        # (connector, event id, status)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.pool = [threading.Thread(target=self.worker, args=(t,)) for t in range(threads)]

    def start(self):
        self.started = time.time()
        for thread in self.pool:
            thread.start()

    def stop(self):
        self.stopping.set()
        for thread in self.pool:
            thread.join()
        self.elapsed = time.time() - self.started

    def worker(self, number):
        generator = random.Random(number)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = 0
        while not self.stopping.is_set() and time.time() - self.started < 600:
            # One reading of the clock: two let the wait turn negative in between (a ValueError).
            wait = self.started + sent * self.threads / self.rate - time.time()
            if wait > 0:
                time.sleep(wait)
            name = f"c{generator.randrange(self.connectors):03d}"
            event = f"r{number}-{sent}"
            sent += 1
            body = json.dumps({"id": event}).encode()
            signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            try:
                connection.request("POST", f"/hooks/{name}", body=body, headers={
                    "Content-Type": "application/json", "X-Hub-Signature-256": signature, "X-GitHub-Delivery": event})
                response = connection.getresponse()
                answer = response.read()
                with self.lock:
                    if response.status == 200 and b'"accepted"' in answer:
                        self.acknowledged.append((name, event))
                    else:
                        self.refused.append((name, event, response.status))
            except OSError:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--connectors", type=int, default=100)
    parser.add_argument("--rewrites", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200, help="events per second while files are rewritten")
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between rewrites")
    options = parser.parse_args()

    vendor = Vendor(options.bin, options.work)
    files = {f"c{i:03d}": connector(i, vendor.port, 0) for i in range(options.connectors)}
    engine = Engine(options.bin, options.work, files)
    with open(os.path.join(options.work, "proof.env"), "a") as environment:
        environment.write(f"MANIFOLD_ADMIN_TOKEN={ADMIN_TOKEN}\n")
    engine.start()
    results = []
    latencies = {"applied": [], "rejected": [], "unchanged": []}
    durations = []    # the engine's own part: compiling every file and swapping
    live = {name: [(0.0, 0)] for name in files}     # per connector: (live from, in wall ms; generation)
    versions = {json.loads(admin(engine.port, "GET", "/admin/reload")[1])["plan"]}
    wrong = []
    load = Load(engine.port, options.connectors, options.rate)
    try:
        load.start()
        time.sleep(1)
        order = random.Random(7).sample(sorted(files), len(files))
        for step in range(options.rewrites):
            index = (step + 1) // 2 % len(order)
            name = order[index]
            path = os.path.join(engine.directory, name + ".yaml")
            valid = step % 2 == 0
            generation = step + 2    # even when valid, odd when not; 0 is the files' first generation
            text = connector(int(name[1:]), vendor.port, generation)
            if not valid:
                breakage, breaker = BREAKAGES[(step // 2) % len(BREAKAGES)]
                text = breaker(text)
            with open(path, "w") as handle:    # in place, as an editor without atomic saves writes
                handle.write(text)
            written = time.time() * 1000
            outcome = None
            deadline = time.time() + 5
            while time.time() < deadline:
                status, body = admin(engine.port, "GET", "/admin/reload")
                last = json.loads(body).get("last_reload")
                if last and last["at_unix_ms"] >= written:
                    outcome = last
                    break
                time.sleep(0.002)
            if outcome is None:
                wrong.append(f"step {step}: no reload within 5 s")
                continue
            latencies[outcome["result"]].append(outcome["at_unix_ms"] - written)
            durations.append(outcome["duration_ms"])
            expected = "applied" if valid else "rejected"
            if outcome["result"] != expected:
                wrong.append(f"step {step} ({'valid' if valid else breakage}): {outcome['result']}, expected {expected}: {outcome}")
            elif valid:
                versions.add(outcome["plan"])
                live[name].append((outcome["at_unix_ms"], generation))
            elif not any(f"{name}.yaml:" in line for line in outcome.get("diagnostics", [])) and breakage != "unset secret":
                wrong.append(f"step {step}: the diagnostics do not name {name}.yaml: {outcome.get('diagnostics')}")
            time.sleep(options.pause)
        time.sleep(1)
    finally:
        load.stop()
    print(f"load: {len(load.acknowledged)} events acknowledged in {load.elapsed:.1f} s "
          f"({len(load.acknowledged) / load.elapsed:.0f}/s), {len(load.refused)} refused")
    delivered = wait_until(lambda: engine.jobs().get("pending", 0) == 0, 60)
    metrics = http.client.HTTPConnection("127.0.0.1", engine.port, timeout=10)
    metrics.request("GET", "/metrics")
    exposition = metrics.getresponse().read().decode()
    engine.stop()

    database = sqlite3.connect(engine.store)
    stored = {(c, e): v for c, e, v in database.execute("SELECT connector, event_id, plan_version FROM events")}
    jobs = database.execute("SELECT e.connector, e.event_id, j.state FROM jobs j JOIN events e ON e.seq = j.event_seq").fetchall()
    database.close()
    calls = [call for call in vendor.log() if call["path"].startswith("/c")]
    vendor.stop()

    acknowledged = set(load.acknowledged)
    keys = {}
    for call in calls:
        keys[call["key"]] = keys.get(call["key"], 0) + 1
    missing = [event for event in acknowledged if keys.get(f"{event[0]}:{event[1]}:deliver", 0) == 0]
    twice = [key for key, count in keys.items() if count > 1]
    per_event = {}
    for connector_name, event, state in jobs:
        per_event.setdefault((connector_name, event), []).append(state)

    def live_during(name, start, end):
        """The generations of `name` live at some moment of [start, end] (wall ms)."""
        timeline = live[name]
        result = set()
        for position, (since, generation) in enumerate(timeline):
            until = timeline[position + 1][0] if position + 1 < len(timeline) else float("inf")
            if since <= end and until >= start:
                result.add(generation)
        return result

    stale = []
    for call in calls:
        name = call["path"].split("/")[1]
        tag = int(call["tag"])
        # Mapped when the attempt started, a little before the vendor logged it.
        if tag % 2 == 1 or tag not in live_during(name, call["wall_ms"] - 1000, call["wall_ms"]):
            stale.append(call)

    results.append(("every rewrite gave the expected reload (valid: applied; invalid: rejected, naming the file)", not wrong))
    results.append((f"every acknowledged event is stored ({len(acknowledged)})", all(event in stored for event in acknowledged)))
    results.append(("every stored event has exactly one job, delivered",
                    delivered and all(per_event.get(event) == ["delivered"] for event in acknowledged)))
    results.append((f"the vendor got every acknowledged event ({len(missing)} missing)", not missing))
    results.append((f"no event was delivered twice ({len(twice)} idempotency keys seen more than once)", not twice))
    results.append((f"every call was mapped by a valid plan live at the time ({len(stale)} not)", not stale))
    results.append(("every event records a plan version that was running",
                    all(stored[event] in versions for event in acknowledged)))
    rejected = options.rewrites // 2
    results.append((f'/metrics counts the {rejected} rejected reloads',
                    f'manifold_config_reloads_total{{result="rejected"}} {rejected}' in exposition))
    results.append(("no event was refused while files were rewritten", not load.refused))

    for label, values in latencies.items():
        if values:
            print(f"reload latency ({label}, change on disk to {'new plan live' if label == 'applied' else 'refusal'}), "
                  f"{len(values)} reloads of {options.connectors} connectors: "
                  f"p50 {percentile(values, 0.5):.1f} ms, p95 {percentile(values, 0.95):.1f} ms, max {max(values):.1f} ms")
    print(f"  of which compiling all {options.connectors} files and swapping: p50 {percentile(durations, 0.5):.1f} ms, "
          f"max {max(durations):.1f} ms (the rest: the watcher's 20 ms debounce, scheduling, the load)")
    applied = latencies["applied"]
    results.append((f"reload latency p50 under 100 ms for {options.connectors} connectors",
                    bool(applied) and percentile(applied, 0.5) < 100))
    for line in wrong[:10]:
        print("  " + line)
    for call in stale[:5]:
        print(f"  stale: {call}")
    failed = False
    for label, passed in results:
        print(("PASS  " if passed else "FAIL  ") + label)
        failed |= not passed
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
