import JSONValue
import ManifoldDelivery
import ManifoldStore

/// A flow job's progress for people: each step with what it came to, in the order they ran.
enum FlowText {
    static func lines(_ job: JobSummary, indent: String = "  ") -> [String] {
        guard let json = job.flow else { return [] }
        let progress = FlowProgress(json: json)
        var lines: [String] = []
        let what = progress.handler == .onFailure ? "failure steps" : progress.only ? "one element's call" : "flow"
        var head = "\(what) of route \(job.route): "
        switch job.state {
        case .delivered: head += "done"
        case .pending: head += "at step \(progress.step + 1)" + (progress.element.map { ", element \($0)" } ?? "") + " (on \(job.target))"
        case .dead, .quarantined: head += job.state == .dead ? "dead-lettered" : "quarantined"
        case .replayed, .purged: head += job.state.rawValue
        }
        lines.append(indent + head)
        for (name, result) in progress.results {
            lines.append(indent + "  " + name.padding(toLength: 14, withPad: " ", startingAt: 0) + describe(result))
        }
        for name in progress.skipped { lines.append(indent + "  " + name.padding(toLength: 14, withPad: " ", startingAt: 0) + "skipped (its condition was false)") }
        for failed in progress.failedElements {
            lines.append(indent + "  " + (failed["step"]?.stringValue ?? "?").padding(toLength: 14, withPad: " ", startingAt: 0)
                         + "element \(failed["element"]?.intValue ?? 0) dead-lettered on its own: \(failed["reason"]?.stringValue ?? "")")
        }
        if let failure = progress.failure {
            let element = failure["element"]?.intValue.map { " element \($0)" } ?? ""
            lines.append(indent + "  failed at \(failure["step"]?.stringValue ?? "?")\(element): \(failure["reason"]?.stringValue ?? "")")
        }
        return lines
    }

    private static func describe(_ result: JSON) -> String {
        if let status = result["status"]?.intValue, result["headers"] != nil || result["body"] != nil { return "answered \(status)" }
        if let list = result.arrayValue {
            let failed = list.filter { $0["error"]?.stringValue != nil }.count
            return "\(list.count) call\(list.count == 1 ? "" : "s")" + (failed > 0 ? ", \(failed) failed" : "")
        }
        return "computed"
    }
}
