"""Several engines on one PostgreSQL (see scripts/prove-cluster): engines, a mock vendor and the database on loopback,
driven and checked from outside, as an operator would."""
import argparse, collections, hashlib, hmac, http.client, json, os, subprocess, sys, threading, time

sys.path.insert(0, os.path.dirname(__file__))
from delivery_proofs import SECRET, Engine, Vendor, free_port, wait_http, wait_until  # noqa: E402

CONNECTOR = """
connector: orders
version: 1
source:
  webhook:
    path: /hooks/orders
    verify: {{ scheme: github, secret: "${{env:PROOF_SECRET}}" }}
    event_id: id
targets:
  ledger:
    base_url: http://127.0.0.1:{port}
    concurrency: 8
    operations:
      post: {{ method: POST, path: "/ledger/{{customer}}/{{seq}}" }}
  limited:
    base_url: http://127.0.0.1:{port}
    concurrency: 4
    rate_limit: {{ requests: 100, per: 10s }}
    operations:
      post: {{ method: POST, path: "/limited/{{id}}" }}
routes:
  - name: book
    call: ledger.post
    ordering_key: customer
    path: {{ customer: "{{% customer %}}", seq: "{{% $string(seq) %}}" }}
    headers: {{ X-Proof-Tag: "${{env:PROOF_NODE}}" }}
    body: {{ id: "{{% id %}}" }}
  - name: notify
    when: "seq % {every} = 0"
    call: limited.post
    path: {{ id: "{{% id %}}" }}
    headers: {{ X-Proof-Tag: "${{env:PROOF_NODE}}" }}
    body: {{ id: "{{% id %}}" }}
"""


def psql(url, sql):
    output = subprocess.run(["psql", url.split("?")[0], "-At", "-F", "\t", "-c", sql], check=True, capture_output=True, text=True)
    return [line.split("\t") for line in output.stdout.splitlines() if line]


class Node(Engine):
    """An engine on the shared PostgreSQL store, with its own name (the X-Proof-Tag its calls carry); killed and
    stopped as `Engine` is."""

    def __init__(self, options, name, directory):
        self.name = name
        self.options = options
        self.port = free_port()
        self.env = os.path.join(options.work, f"{name}.env")
        open(self.env, "w").write(f"PROOF_SECRET={SECRET}\nPROOF_NODE={name}\n")
        self.directory = directory
        self.process = None

    def start(self):
        log = open(os.path.join(self.options.work, f"{self.name}.log"), "ab")
        self.process = subprocess.Popen([os.path.join(self.options.bin, "manifold"), "run", "--connectors", self.directory,
                                         "--env-file", self.env, "--store", self.options.store, "--no-watch",
                                         "--listen", f"127.0.0.1:{self.port}", "--log-level", os.environ.get("PROOF_LOG_LEVEL", "error")],
                                        stdout=log, stderr=log)
        wait_http(self.port, "/readyz", seconds=60)


def post_round_robin(nodes, count, customers, threads, stop_after):
    """Posts `count` signed events round-robin over the nodes (a node that is down: the next one); event `index` is
    number `seq = index // customers` of customer `c-(index % customers)`. Each customer's events are posted one after
    the other (the next once the last is acknowledged), so their order is defined; customers go in parallel.
    Returns the acknowledged ids."""
    acknowledged, lock, started = [], threading.Lock(), time.time()

    def worker(first):
        connections = {}
        mine = [index for index in range(count) if (index % customers) % threads == first]
        for index in mine:
            if time.time() - started > stop_after:
                return
            body = json.dumps({"id": f"o-{index}", "customer": f"c-{index % customers}", "seq": index // customers}).encode()
            signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            for attempt in range(len(nodes) * 3):
                node = nodes[(index + attempt) % len(nodes)]
                try:
                    connection = connections.get(node.name) or http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
                    connections[node.name] = connection
                    connection.request("POST", "/hooks/orders", body=body, headers={
                        "Content-Type": "application/json", "X-Hub-Signature-256": signature, "X-GitHub-Delivery": f"o-{index}"})
                    response = connection.getresponse()
                    response.read()
                    if response.status == 200:
                        with lock:
                            acknowledged.append(f"o-{index}")
                        break
                except OSError:
                    connections.pop(node.name, None)
                    time.sleep(0.05)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(min(threads, customers))]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return acknowledged


def prove_failover(options, results):
    vendor = Vendor(options.bin, options.work)
    directory = os.path.join(options.work, "connectors")
    os.makedirs(directory, exist_ok=True)
    open(os.path.join(directory, "orders.yaml"), "w").write(CONNECTOR.format(port=vendor.port, every=options.every))
    nodes = [Node(options, f"n{i + 1}", directory) for i in range(options.nodes)]
    try:
        for node in nodes:
            node.start()
        acknowledged = []
        sender = threading.Thread(target=lambda: acknowledged.extend(
            post_round_robin(nodes, options.events, options.customers, threads=8, stop_after=600)))
        began = time.time()
        sender.start()
        # Kill the node running the ordered lane mid-run (SIGKILL: no drain, no release), restart it a little later.
        wait_until(lambda: int(psql(options.store, "SELECT count(*) FROM events")[0][0]) >= options.events * options.kill_at, 300, 0.1)
        holder = psql(options.store, """SELECT e.info::json->>'listen' FROM lane_leases l JOIN engines e ON e.owner = l.owner
                                        WHERE l.lane = 'orders/ledger'""")
        victim = next((node for node in nodes if holder and holder[0][0].endswith(f":{node.port}")), nodes[1])
        victim.kill()
        killed_at = time.time()
        time.sleep(options.down)
        victim.start()
        sender.join()
        print(f"posted {options.events} events round-robin to {len(nodes)} nodes in {time.time() - began:.1f} s; "
              f"{len(acknowledged)} acknowledged; {victim.name} (running the ordered lane) killed (SIGKILL) {killed_at - began:.1f} s in, restarted {options.down} s later")
        expected_jobs = options.events + len([i for i in range(options.events) if (i // options.customers) % options.every == 0])

        def settled():
            states = dict(psql(options.store, "SELECT state, count(*) FROM jobs GROUP BY state"))
            return int(states.get("delivered", 0)) + int(states.get("dead", 0)) >= expected_jobs and "pending" not in states
        wait_until(settled, options.settle, 1)
        states = {state: int(count) for state, count in psql(options.store, "SELECT state, count(*) FROM jobs GROUP BY state")}
        stored = {row[0] for row in psql(options.store, "SELECT event_id FROM events WHERE connector = 'orders'")}
        print(f"store: {len(stored)} events, jobs {states} (expected {expected_jobs} jobs), {time.time() - began:.1f} s after the start")
        lost = [event for event in acknowledged if event not in stored]
        results.append((f"0 acknowledged events lost ({len(acknowledged)} acknowledged, {len(lost)} missing)", not lost))
        results.append((f"every job delivered ({states.get('delivered', 0)} of {expected_jobs}, none pending or dead)",
                        states.get("delivered", 0) == expected_jobs and set(states) == {"delivered"}))

        calls = vendor.log()
        by_key = collections.Counter(call["key"] for call in calls)
        repeats = sum(count - 1 for count in by_key.values() if count > 1)
        job_keys = len(by_key)
        print(f"vendor: {len(calls)} calls, {job_keys} idempotency keys, {repeats} repeated calls (each with its job's key)")
        results.append((f"one idempotency key per job ({job_keys} keys for {expected_jobs} jobs; {repeats} repeats, all with the same key)",
                        job_keys == expected_jobs))

        limited = sorted(call["wall_ms"] for call in calls if call["path"].startswith("/limited/"))
        worst, j = 0, 0
        for i in range(len(limited)):
            while limited[i] - limited[j] >= 10_000:
                j += 1
            worst = max(worst, i - j + 1)
        print(f"limited lane: {len(limited)} calls; the busiest 10 s window across the cluster held {worst} (limit 100)")
        results.append((f"the 100/10s limit held across the cluster (busiest window {worst})", worst <= 100))

        # An ordering key's jobs reach the vendor in order: the first call of each seq, per customer, in seq order.
        first_seen, out_of_order = {}, 0
        for call in sorted(calls, key=lambda call: call["wall_ms"]):
            if not call["path"].startswith("/ledger/"):
                continue
            _, _, customer, seq = call["path"].split("/")
            if (customer, seq) in first_seen:
                continue
            first_seen[(customer, seq)] = True
            previous = first_seen.get(("last", customer), -1)
            if int(seq) < previous:
                out_of_order += 1
            first_seen[("last", customer)] = max(previous, int(seq))
        print(f"ordered lane: {out_of_order} calls before an earlier one of the same customer")
        results.append((f"each customer's calls in order ({out_of_order} out of order)", out_of_order == 0))

        # One node per lane at a time: the lane's calls, in time order, change node only when the lane changes hands.
        for lane in ("/ledger/", "/limited/"):
            tags = [call["tag"] for call in sorted(calls, key=lambda call: call["wall_ms"]) if call["path"].startswith(lane)]
            runs = [tag for index, tag in enumerate(tags) if index == 0 or tag != tags[index - 1]]
            print(f"lane {lane.strip('/')}: {len(tags)} calls in {len(runs)} runs of one node: {' > '.join(runs[:12])}{' ...' if len(runs) > 12 else ''}")
            results.append((f"lane {lane.strip('/')} run by one node at a time ({len(runs)} hand-overs + 1)", len(runs) <= 2 * len(nodes) + 4))
        for row in psql(options.store, "SELECT lane, owner, token FROM lane_leases ORDER BY lane"):
            print("  lease", " ".join(row))
    finally:
        for node in nodes:
            node.stop()
        vendor.stop()


def prove_throughput(options, results):
    """Events/s ingested and delivered with 1, 2 and 3 nodes (loopback, one machine: overhead and correctness, not scale)."""
    base = options.store
    for count in options.node_counts:
        # A database of its own for each count.
        psql(base, f"CREATE DATABASE throughput_{count}")
        address, _, query = base.partition("?")
        options.store = address.rsplit("/", 1)[0] + f"/throughput_{count}" + ("?" + query if query else "")
        vendor = Vendor(options.bin, options.work)
        directory = os.path.join(options.work, f"connectors-{count}")
        os.makedirs(directory, exist_ok=True)
        open(os.path.join(directory, "orders.yaml"), "w").write(
            CONNECTOR.format(port=vendor.port, every=10 ** 9).replace("    rate_limit: { requests: 100, per: 10s }\n", ""))
        nodes = [Node(options, f"n{i + 1}", directory) for i in range(count)]
        try:
            for node in nodes:
                node.start()
            commits_before = int(psql(options.store, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")[0][0])
            began = time.time()
            acknowledged = post_round_robin(nodes, options.events, options.customers * 10, threads=16, stop_after=300)
            ingested = time.time() - began
            wait_until(lambda: int(psql(options.store, "SELECT count(*) FROM jobs WHERE state = 'delivered'")[0][0]) >= len(acknowledged),
                       options.settle, 0.2)
            delivered = time.time() - began
            commits = int(psql(options.store, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")[0][0]) - commits_before
            size = int(psql(options.store, """SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm')""")[0][0])
            print(f"{count} node{'s' if count > 1 else ''}: {len(acknowledged)} events ingested at {len(acknowledged) / ingested:,.0f}/s, "
                  f"delivered end to end at {len(acknowledged) / delivered:,.0f}/s; PostgreSQL {commits / delivered:,.0f} commits/s; "
                  f"{size / max(1, len(acknowledged)):,.0f} bytes stored per event (tables and indexes)")
        finally:
            for node in nodes:
                node.stop()
            vendor.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["failover", "throughput"])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--store", default=os.environ.get("MANIFOLD_TEST_POSTGRES"))
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--node-counts", type=lambda text: [int(n) for n in text.split(",")], default=[1, 2, 3])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--every", type=int, default=20, help="one event in this many (by seq) also goes to the rate-limited target")
    parser.add_argument("--kill-at", type=float, default=0.4, help="kill a node once this share of the events is stored")
    parser.add_argument("--down", type=float, default=3)
    parser.add_argument("--settle", type=float, default=300)
    options = parser.parse_args()
    if not options.store:
        raise SystemExit("no PostgreSQL: run through scripts/prove-cluster, which starts one")
    results = []
    {"failover": prove_failover, "throughput": prove_throughput}[options.scenario](options, results)
    for name, passed in results:
        print(("PASS  " if passed else "FAIL  ") + name)
    sys.exit(0 if all(passed for _, passed in results) else 1)


if __name__ == "__main__":
    main()
