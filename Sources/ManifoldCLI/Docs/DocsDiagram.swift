/// A diagram drawn by the project, as SVG: columns of boxes (left to right) joined by arrows. Readable without
/// JavaScript or fonts of its own: plain `<rect>`, `<path>` and `<text>`, sizes computed from the labels.
struct DocsDiagram {
    struct Node {
        var id: String
        var title: String
        var subtitle: String?
        /// A page or anchor the box links to.
        var link: String?
        var kind: Kind = .normal

        enum Kind { case source, normal, target, shared, failure }
    }

    /// Columns of nodes, drawn left to right.
    var columns: [[Node]]
    /// Arrows from a node to another, by id.
    var edges: [(from: String, to: String)]
    var title: String

    private static let characterWidth = 7.2
    private static let rowHeight = 58.0
    private static let boxHeight = 42.0
    private static let columnGap = 70.0
    private static let margin = 16.0
    private static let maximumLabel = 46

    static func clip(_ text: String) -> String {
        text.count <= maximumLabel ? text : String(text.prefix(maximumLabel - 1)) + "…"
    }

    func svg() -> String {
        var widths: [Double] = []
        for column in columns {
            let longest = column.map { max(Self.clip($0.title).count, Self.clip($0.subtitle ?? "").count) }.max() ?? 8
            widths.append(max(110, Double(longest) * Self.characterWidth + 24))
        }
        let rows = max(1, columns.map(\.count).max() ?? 1)
        let height = Double(rows) * Self.rowHeight + 2 * Self.margin + 18
        var x = Self.margin
        var positions: [String: (x: Double, y: Double, width: Double)] = [:]
        for (index, column) in columns.enumerated() {
            let top = Self.margin + 18 + (Double(rows - column.count) * Self.rowHeight) / 2
            for (row, node) in column.enumerated() {
                positions[node.id] = (x, top + Double(row) * Self.rowHeight, widths[index])
            }
            x += widths[index] + Self.columnGap
        }
        let width = x - Self.columnGap + Self.margin
        var parts = [
            "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
                + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">",
            "<title>\(DocText.escape(title))</title>",
            "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" "
                + "orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#57606a\"/></marker></defs>",
        ]
        for edge in edges {
            guard let from = positions[edge.from], let to = positions[edge.to] else { continue }
            let startX = from.x + from.width, startY = from.y + Self.boxHeight / 2
            let endX = to.x, endY = to.y + Self.boxHeight / 2
            let bend = max(20, (endX - startX) / 2)
            parts.append("<path d=\"M \(f(startX)) \(f(startY)) C \(f(startX + bend)) \(f(startY)), \(f(endX - bend)) \(f(endY)), "
                         + "\(f(endX)) \(f(endY))\" fill=\"none\" stroke=\"#57606a\" stroke-width=\"1.3\" marker-end=\"url(#arrow)\"/>")
        }
        for column in columns {
            for node in column {
                guard let place = positions[node.id] else { continue }
                let (fill, stroke) = Self.colours(node.kind)
                var box = "<rect x=\"\(f(place.x))\" y=\"\(f(place.y))\" width=\"\(f(place.width))\" height=\"\(f(Self.boxHeight))\" "
                    + "rx=\"6\" fill=\"\(fill)\" stroke=\"\(stroke)\"/>"
                let hasSubtitle = node.subtitle != nil
                box += "<text x=\"\(f(place.x + 10))\" y=\"\(f(place.y + (hasSubtitle ? 17 : 25)))\" font-weight=\"600\" fill=\"#1f2328\">"
                    + DocText.escape(Self.clip(node.title)) + "</text>"
                if let subtitle = node.subtitle {
                    box += "<text x=\"\(f(place.x + 10))\" y=\"\(f(place.y + 33))\" fill=\"#57606a\" font-size=\"11\">"
                        + DocText.escape(Self.clip(subtitle)) + "</text>"
                }
                if let link = node.link {
                    parts.append("<a href=\"\(DocText.escape(link))\">\(box)</a>")
                } else {
                    parts.append(box)
                }
            }
        }
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }

    private static func colours(_ kind: Node.Kind) -> (String, String) {
        switch kind {
        case .source: ("#ddf4ff", "#0969da")
        case .normal: ("#ffffff", "#8c959f")
        case .target: ("#dafbe1", "#1a7f37")
        case .shared: ("#fff8c5", "#9a6700")
        case .failure: ("#ffebe9", "#cf222e")
        }
    }

    private func f(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
}

import Foundation
