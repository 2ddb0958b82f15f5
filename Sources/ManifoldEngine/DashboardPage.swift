import JSONValue

/// The dashboard page: rendered on the server from the same data `/dashboard/data` serves (so it shows something
/// without JavaScript), then refreshed by a little script every few seconds. No build step, no external asset.
enum DashboardPage {
    /// The page; `nonce` marks its one style and one script as the only ones the Content-Security-Policy allows.
    /// The sign-in page of a dashboard that needs a token: a form that posts it to `/dashboard/login`, which
    /// sets an HttpOnly cookie. No script.
    static func signIn(nonce: String, refused: Bool) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Manifold: sign in</title>
        <style nonce="\(nonce)">\(style)</style>
        </head>
        <body>
        <header><h1>Manifold</h1></header>
        <main>
        <section>
          <h2>Sign in to the dashboard</h2>
          <p>The dashboard shows what this engine received and sent. Enter the dashboard token
          (<code>MANIFOLD_DASHBOARD_TOKEN</code>) or the admin token (<code>MANIFOLD_ADMIN_TOKEN</code>).</p>
          \(refused ? #"<p id="refused" class="error">That token is not accepted.</p>"# : "")
          <form id="sign-in" method="post" action="/dashboard/login">
            <input id="token" name="token" type="password" autocomplete="current-password" size="40">
            <button id="sign-in-button" type="submit">sign in</button>
          </form>
        </section>
        </main>
        </body>
        </html>

        """
    }

    static func html(_ data: JSON, refreshSeconds: Int, nonce: String) -> String {
        let lanes = (data["lanes"]?.arrayValue ?? []).map(laneRow).joined(separator: "\n")
        let sharesStore = data["cluster"]?.objectValue != nil
        let connectors = (data["connectors"]?.arrayValue ?? []).map(connectorRow).joined(separator: "\n")
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Manifold</title>
            <style nonce="\(nonce)">\(style)</style>
            </head>
            <body data-refresh="\(refreshSeconds)">
            <header>
              <h1>Manifold</h1>
              <span id="plan">plan \(escape(data["plan"]?.stringValue ?? ""))</span>
              <span id="updated">updated \(escape(data["generated_at"]?.stringValue ?? ""))</span>
              <label class="token">admin token <input id="admin-token" type="text" class="secret" autocomplete="off" spellcheck="false"></label>
            </header>
            <main>
            <section id="alerts-section"><h2>Alerts firing</h2><ul id="alerts"><li class="none">none</li></ul></section>
            <section>
              <h2>Targets <small>last \(escape(data["window"]?.stringValue ?? ""))</small></h2>
              <table id="lanes">
                <thead><tr><th>connector</th><th>target</th><th>success</th><th>errors</th><th>p50</th><th>p99</th>
                <th>attempts</th><th>queued</th><th>oldest</th><th>dead letters</th><th>quarantined</th><th>breaker</th></tr></thead>
                <tbody>
            \(lanes)
                </tbody>
              </table>
            </section>
            <section>
              <h2>Connectors <small>events, last \(escape(data["window"]?.stringValue ?? ""))</small></h2>
              <table id="connectors">
                <thead><tr><th>connector</th><th>path</th><th>verification</th><th>accepted</th><th>rejected</th><th>duplicates</th><th>quarantined</th></tr></thead>
                <tbody>
            \(connectors)
                </tbody>
              </table>
            </section>
            <section id="cluster-section"\(sharesStore ? "" : " hidden")>
              <h2>Cluster <small>engines sharing the store, their plans and lanes</small></h2>
              <table id="cluster">
                <thead><tr><th>engine</th><th>plan</th><th>host</th><th>listening on</th><th>lanes held</th></tr></thead>
                <tbody></tbody>
              </table>
            </section>
            <section id="rollouts-section">
              <h2>Rollouts <small>each version side by side</small></h2>
              <table id="rollouts">
                <thead><tr><th>connector</th><th>mode</th><th>share</th><th>version</th><th>events</th><th>success</th><th>p50</th><th>p99</th><th>failed</th><th>dead letters</th><th></th></tr></thead>
                <tbody></tbody>
              </table>
            </section>
            <section id="pulls-section">
              <h2>Pulls <small>polls, schedules, files</small></h2>
              <table id="pulls">
                <thead><tr><th>connector</th><th>kind</th><th>schedule</th><th>cursor</th><th>last run</th><th>last ok</th><th>records</th><th>failing</th><th>last error</th></tr></thead>
                <tbody></tbody>
              </table>
            </section>
            <section id="endpoints-section">
              <h2>Customers' endpoints <small>latest deliveries</small></h2>
              <table id="endpoints">
                <thead><tr><th>endpoint</th><th>tenant</th><th>state</th><th>url</th><th>queued</th><th>breaker</th><th>latest deliveries</th></tr></thead>
                <tbody></tbody>
              </table>
            </section>
            <section>
              <h2>Last failures</h2>
              <table id="failures">
                <thead><tr><th>at</th><th>lane</th><th>class</th><th>status</th><th>outcome</th><th>reason</th><th>event</th></tr></thead>
                <tbody></tbody>
              </table>
            </section>
            <section>
              <h2>Dead letters</h2>
              <table id="dead-letters">
                <thead><tr><th>job</th><th>lane</th><th>state</th><th>attempts</th><th>reason</th><th></th></tr></thead>
                <tbody></tbody>
              </table>
              <p id="action-result" role="status"></p>
            </section>
            <section>
              <h2>Event timeline</h2>
              <form id="event-form"><input id="event-id" placeholder="evt_..." size="34"> <button id="show-event" type="submit">show</button>
              <button id="replay-event" type="button">replay event</button></form>
              <div id="event-summary"></div>
              <ol id="timeline"></ol>
            </section>
            </main>
            <script nonce="\(nonce)">\(script)</script>
            </body>
            </html>

            """
    }

    static func laneRow(_ lane: JSON) -> String {
        let name = escape(lane["lane"]?.stringValue ?? "")
        let breaker = escape(lane["breaker"]?.stringValue ?? "closed")
        return """
                  <tr data-lane="\(name)"><td>\(escape(lane["connector"]?.stringValue ?? ""))</td><td>\(escape(lane["target"]?.stringValue ?? ""))</td>\
            <td class="success">\(percent(lane["success_rate"]))</td><td class="errors">\(percent(lane["error_rate"]))</td>\
            <td class="p50">\(milliseconds(lane["p50_ms"]))</td><td class="p99">\(milliseconds(lane["p99_ms"]))</td>\
            <td class="attempts">\(integer(lane["attempts"]))</td><td class="queued">\(integer(lane["queued"]))</td>\
            <td class="oldest">\(lane["oldest_queued_s"]?.numberValue.map { "\(Int($0)) s" } ?? "–")</td>\
            <td class="dead">\(integer(lane["dead_letters"]))</td><td class="quarantined">\(integer(lane["quarantined"]))</td>\
            <td class="breaker \(breaker)">\(breaker)</td></tr>
            """
    }

    static func connectorRow(_ connector: JSON) -> String {
        """
              <tr data-connector="\(escape(connector["name"]?.stringValue ?? ""))"><td>\(escape(connector["name"]?.stringValue ?? ""))</td>\
        <td><code>\(escape(connector["path"]?.stringValue ?? ""))</code></td><td>\(escape(connector["verification"]?.stringValue ?? ""))</td>\
        <td class="accepted">\(integer(connector["accepted"]))</td><td class="rejected">\(integer(connector["rejected"]))</td>\
        <td class="duplicates">\(integer(connector["duplicates"]))</td><td class="quarantined">\(integer(connector["quarantined"]))</td></tr>
        """
    }

    static func percent(_ value: JSON?) -> String {
        guard let number = value?.numberValue else { return "–" }
        return String(format: "%.1f%%", number * 100)
    }

    static func milliseconds(_ value: JSON?) -> String {
        guard let number = value?.numberValue else { return "–" }
        return number < 10 ? String(format: "%.1f ms", number) : "\(Int(number.rounded())) ms"
    }

    static func integer(_ value: JSON?) -> String { value?.numberValue.map { String(Int($0)) } ?? "0" }

    static func escape(_ text: String) -> String { HTMLText.escape(text) }

    static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
        header{display:flex;gap:1.5em;align-items:baseline;padding:.6em 1.2em;background:#1d2330;color:#fff}
        header h1{font-size:1.2em;margin:0}header .token{margin-left:auto}
        main{padding:0 1.2em 2em}h2{font-size:1.05em;margin:1.4em 0 .4em}h2 small{font-weight:normal;color:#667}
        table{border-collapse:collapse;background:#fff;width:100%}th,td{padding:.3em .6em;border-bottom:1px solid #e3e6ea;text-align:left}
        th{font-weight:600;color:#445;background:#eef0f3}td.breaker.open{background:#c0392b;color:#fff;font-weight:600}
        td.breaker.half-open{background:#f0ad4e}td.breaker.closed{color:#2e7d32}tr.bad td.errors{color:#c0392b;font-weight:600}
        #alerts li{color:#c0392b;font-weight:600}#alerts li.none{color:#2e7d32;font-weight:normal}
        #timeline li{margin:.2em 0}#timeline .delivered{color:#2e7d32}#timeline .transient,#timeline .permanent,#timeline .bad_data{color:#c0392b}
        input.secret{-webkit-text-security:disc}button{cursor:pointer}code{font-size:.95em}#action-result{font-weight:600}
        """

    static let script = """
        "use strict";
        const $ = (selector) => document.querySelector(selector);
        const text = (value) => value === null || value === undefined ? "–" : String(value);
        const pct = (value) => value === null || value === undefined ? "–" : (value * 100).toFixed(1) + "%";
        const ms = (value) => value === null || value === undefined ? "–" : (value < 10 ? value.toFixed(1) : Math.round(value)) + " ms";
        function cell(row, content, className) {
          const td = document.createElement("td");
          td.textContent = content;
          if (className) td.className = className;
          row.appendChild(td);
          return td;
        }
        function token() {
          const field = $("#admin-token");
          if (field.value) sessionStorage.setItem("manifold-admin-token", field.value);
          return field.value || sessionStorage.getItem("manifold-admin-token") || "";
        }
        async function admin(path, body) {
          const result = $("#action-result");
          const secret = token();
          if (!secret) { result.textContent = "enter the admin token first"; return null; }
          const response = await fetch(path, {method: "POST", headers: {"Authorization": "Bearer " + secret,
            "Content-Type": "application/json"}, body: JSON.stringify(body)});
          const reply = await response.json().catch(() => ({}));
          result.textContent = response.ok ? path.split("/").pop() + ": done " + JSON.stringify(reply)
            : "refused (" + response.status + "): " + (reply.message || "");
          refresh();
          return reply;
        }
        function render(data) {
          $("#plan").textContent = "plan " + data.plan;
          $("#updated").textContent = "updated " + data.generated_at;
          const lanes = $("#lanes tbody");
          lanes.replaceChildren(...data.lanes.map((lane) => {
            const row = document.createElement("tr");
            row.dataset.lane = lane.lane;
            if (lane.error_rate > 0) row.className = "bad";
            cell(row, lane.connector); cell(row, lane.target);
            cell(row, pct(lane.success_rate), "success"); cell(row, pct(lane.error_rate), "errors");
            cell(row, ms(lane.p50_ms), "p50"); cell(row, ms(lane.p99_ms), "p99");
            cell(row, text(lane.attempts), "attempts"); cell(row, text(lane.queued), "queued");
            cell(row, lane.oldest_queued_s === null ? "–" : lane.oldest_queued_s + " s", "oldest");
            cell(row, text(lane.dead_letters), "dead"); cell(row, text(lane.quarantined), "quarantined");
            cell(row, lane.breaker, "breaker " + lane.breaker);
            return row;
          }));
          $("#connectors tbody").replaceChildren(...data.connectors.map((connector) => {
            const row = document.createElement("tr");
            row.dataset.connector = connector.name;
            cell(row, connector.name); cell(row, connector.path); cell(row, connector.verification);
            cell(row, text(connector.accepted), "accepted"); cell(row, text(connector.rejected), "rejected");
            cell(row, text(connector.duplicates), "duplicates"); cell(row, text(connector.quarantined), "quarantined");
            return row;
          }));
          $("#failures tbody").replaceChildren(...data.failures.map((failure) => {
            const row = document.createElement("tr");
            row.className = "failure " + failure.class;
            cell(row, failure.at); cell(row, failure.lane); cell(row, failure.class, "class");
            cell(row, text(failure.status)); cell(row, failure.outcome, "outcome"); cell(row, failure.reason);
            const link = document.createElement("a");
            link.href = "#"; link.textContent = failure.event; link.className = "event-link";
            link.addEventListener("click", (click) => { click.preventDefault(); showEvent(failure.event); });
            row.appendChild(document.createElement("td")).appendChild(link);
            return row;
          }));
          $("#dead-letters tbody").replaceChildren(...data.dead_letters.map((job) => {
            const row = document.createElement("tr");
            row.dataset.job = job.id;
            cell(row, job.id); cell(row, job.connector + "/" + job.target); cell(row, job.state, "state");
            cell(row, text(job.attempts)); cell(row, text(job.reason));
            const actions = row.appendChild(document.createElement("td"));
            for (const [label, path] of [["replay", "/admin/dlq/replay"], ["purge", "/admin/dlq/purge"]]) {
              const button = document.createElement("button");
              button.textContent = label; button.className = label;
              button.addEventListener("click", () => admin(path, {jobs: [job.id]}));
              actions.appendChild(button);
            }
            return row;
          }));
          $("#cluster-section").hidden = !data.cluster;
          $("#cluster tbody").replaceChildren(...(data.cluster ? data.cluster.engines : []).map((engine) => {
            const row = document.createElement("tr");
            row.dataset.engine = engine.engine;
            if (!data.cluster.plans_agree) row.className = "bad";
            cell(row, engine.engine + (engine.this ? " (this one)" : ""), "engine"); cell(row, text(engine.plan), "plan");
            cell(row, text(engine.host)); cell(row, text(engine.listen));
            cell(row, engine.lanes.map((lease) => lease.lane).join(", "), "lanes");
            return row;
          }));
          // A share being typed survives the refresh (every 2 s) that rebuilds the rows, with its focus.
          const typed = {};
          for (const input of document.querySelectorAll("#rollouts input.share")) {
            if (input.value !== "") typed[input.closest("tr").dataset.rollout] = {value: input.value, focused: document.activeElement === input};
          }
          $("#rollouts tbody").replaceChildren(...(data.rollouts || []).flatMap((rollout) => {
            return ["current", "candidate"].map((version, index) => {
              const row = document.createElement("tr");
              row.dataset.rollout = rollout.connector;
              row.dataset.version = version;
              const figures = (rollout.versions || {})[version] || {};
              cell(row, index === 0 ? rollout.connector : ""); cell(row, index === 0 ? rollout.mode : "");
              cell(row, index === 0 ? rollout.share : ""); cell(row, version, "version");
              cell(row, text(figures.events), "events"); cell(row, pct(figures.success_rate), "success");
              cell(row, ms(figures.p50_ms), "p50"); cell(row, ms(figures.p99_ms), "p99");
              cell(row, text(figures.failed), "failed"); cell(row, text(figures.dead_lettered), "dead");
              const actions = row.appendChild(document.createElement("td"));
              if (index === 0) {
                const share = document.createElement("input");
                share.className = "share"; share.size = 4; share.placeholder = "%";
                const kept = typed[rollout.connector];
                if (kept) share.value = kept.value;
                actions.appendChild(share);
                if (kept && kept.focused) setTimeout(() => share.focus(), 0);
                for (const [label, action] of [["set share", "share"], ["promote", "promote"], ["rollback", "rollback"]]) {
                  const button = document.createElement("button");
                  button.textContent = label; button.className = action;
                  button.addEventListener("click", () => {
                    if (action === "share") {
                      // An empty or odd share is said, not sent as 0.
                      const value = share.value.trim() === "" ? NaN : Number(share.value);
                      if (!(value >= 0 && value <= 100)) { $("#action-result").textContent = "type a share from 0 to 100 first"; return; }
                      share.value = "";
                      admin("/admin/rollouts/" + rollout.connector + "/share", {share: value});
                    } else {
                      admin("/admin/rollouts/" + rollout.connector + "/" + action, {});
                    }
                  });
                  actions.appendChild(button);
                }
              }
              return row;
            });
          }));
          $("#pulls tbody").replaceChildren(...(data.pulls || []).map((pull) => {
            const row = document.createElement("tr");
            row.dataset.pull = pull.connector;
            if (pull.failing_runs > 0) row.className = "bad";
            cell(row, pull.connector); cell(row, pull.kind); cell(row, pull.schedule);
            cell(row, pull.cursor + (pull.under_way ? " (a run under way)" : ""), "cursor");
            cell(row, text(pull.last_run), "last-run"); cell(row, text(pull.last_success), "last-ok");
            cell(row, text(pull.records), "records"); cell(row, text(pull.failing_runs), "failing");
            cell(row, pull.last_error || "", "error");
            return row;
          }));
          $("#endpoints tbody").replaceChildren(...(data.endpoints || []).map((endpoint) => {
            const row = document.createElement("tr");
            row.dataset.endpoint = endpoint.id;
            if (endpoint.state !== "enabled") row.className = "bad";
            cell(row, endpoint.id); cell(row, endpoint.tenant); cell(row, endpoint.state + (endpoint.reason ? ": " + endpoint.reason : ""), "state");
            cell(row, endpoint.url); cell(row, text(endpoint.queued), "queued"); cell(row, endpoint.breaker, "breaker " + endpoint.breaker);
            cell(row, endpoint.deliveries.map((d) => d.state + (d.status === null ? "" : " " + d.status) + " ×" + d.attempts).join(", "), "deliveries");
            return row;
          }));
          const alerts = $("#alerts");
          alerts.replaceChildren(...(data.alerts.length ? data.alerts.map((alert) => {
            const item = document.createElement("li");
            item.dataset.rule = alert.rule;
            item.textContent = alert.severity + " " + alert.rule + " on " + alert.connector + (alert.target ? "/" + alert.target : "") + ": " + alert.summary;
            return item;
          }) : [Object.assign(document.createElement("li"), {className: "none", textContent: "none"})]));
        }
        async function refresh() {
          try {
            const response = await fetch("/dashboard/data", {cache: "no-store"});
            if (response.ok) render(await response.json());
          } catch (error) {
            $("#updated").textContent = "engine unreachable: " + error;
          }
        }
        async function showEvent(id) {
          $("#event-id").value = id;
          const response = await fetch("/dashboard/events/" + encodeURIComponent(id), {cache: "no-store"});
          const reply = await response.json();
          if (!response.ok) { $("#event-summary").textContent = reply.message; $("#timeline").replaceChildren(); return; }
          const event = reply.event;
          $("#event-summary").textContent = event.id + " · " + event.connector + " · " + (event.event_type || "") +
            " · vendor id " + event.event_id + " · " + event.status;
          $("#timeline").replaceChildren(...reply.timeline.map((entry) => {
            const item = document.createElement("li");
            item.className = entry.kind + " " + (entry.class || entry.status);
            item.textContent = entry.kind === "attempt"
              ? entry.at + " attempt " + entry.attempt + " → " +
                (entry.step ? "step " + entry.step + (entry.element !== undefined ? " [" + entry.element + "]" : "") : entry.target) + ": " + entry.class +
                (entry.status ? " " + entry.status : "") + " (" + entry.duration_ms + " ms)" + (entry.error ? " " + entry.error : "")
              : entry.at + " " + entry.status + (entry.detail && entry.detail.reason ? ": " + entry.detail.reason : "");
            return item;
          }));
        }
        $("#event-form").addEventListener("submit", (submit) => { submit.preventDefault(); showEvent($("#event-id").value.trim()); });
        $("#replay-event").addEventListener("click", () => admin("/admin/replay", {events: [$("#event-id").value.trim()]}));
        const stored = sessionStorage.getItem("manifold-admin-token");
        if (stored) $("#admin-token").value = stored;
        refresh();
        setInterval(refresh, Math.max(1, Number(document.body.dataset.refresh) || 2) * 1000);
        """
}

/// Text for HTML: the five characters that could end an element or an attribute, escaped. The dashboard and the
/// generated handbook (`manifold docs`) write with it.
public enum HTMLText {
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
