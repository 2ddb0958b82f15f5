import Foundation
import ManifoldEngine

/// A page of the generated documentation as blocks, written once and rendered as HTML or Markdown, so the two
/// formats say the same thing.
///
/// Text inside blocks uses two marks of Markdown and nothing else: `` `code` `` spans and `[text](href)` links.
/// Everything else is plain text, escaped for HTML; text that comes from connector files (expressions, names)
/// is put in code spans with `DocText.code`.
struct DocPage {
    /// Its file name without extension (`index`, `connectors/stripe-to-hubspot`).
    var name: String
    var title: String
    var blocks: [DocBlock]
}

enum DocBlock {
    /// A heading, with the anchor other pages link to.
    case heading(level: Int, text: String, anchor: String?)
    case paragraph(String)
    case list([String])
    /// Ordered steps.
    case steps([String])
    case table(header: [String], rows: [[String]])
    /// Preformatted text (a mapping, a command): never marked up.
    case code(String)
    /// A diagram: its SVG file name (beside the page) and what it shows, for readers without images.
    case diagram(file: String, svg: String, caption: String)
}

/// Marks for text in blocks.
enum DocText {
    /// `text` as a code span: backtick fences longer than any run inside it.
    static func code(_ text: String) -> String { Markdown.code(text.replacingOccurrences(of: "\n", with: " ")) }

    /// A link.
    static func link(_ text: String, _ href: String) -> String { "[\(text)](\(href))" }

    /// Marked text as HTML: code spans become `<code>`, links `<a>`, the rest escaped.
    static func html(_ text: String) -> String {
        var output = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "`" {
                var fence = 0
                var cursor = index
                while cursor < text.endIndex, text[cursor] == "`" { fence += 1; cursor = text.index(after: cursor) }
                let closing = String(repeating: "`", count: fence)
                if let end = text.range(of: closing, range: cursor..<text.endIndex) {
                    var inner = String(text[cursor..<end.lowerBound])
                    // CommonMark: one space padding each side of a span is not part of it.
                    if inner.count > 1, inner.hasPrefix(" "), inner.hasSuffix(" ") { inner = String(inner.dropFirst().dropLast()) }
                    inner = inner.replacingOccurrences(of: "\\|", with: "|")
                    output += "<code>" + escape(inner) + "</code>"
                    index = end.upperBound
                    continue
                }
                output += escape(closing)
                index = cursor
                continue
            }
            if character == "[", let close = text.range(of: "](", range: index..<text.endIndex),
               let end = text.range(of: ")", range: close.upperBound..<text.endIndex),
               !text[text.index(after: index)..<close.lowerBound].contains("[")
            {
                let label = String(text[text.index(after: index)..<close.lowerBound])
                let href = String(text[close.upperBound..<end.lowerBound])
                if !href.contains(" ") {
                    output += "<a href=\"\(escape(href))\">\(html(label))</a>"
                    index = end.upperBound
                    continue
                }
            }
            output += escape(String(character))
            index = text.index(after: index)
        }
        return output
    }

    static func escape(_ text: String) -> String { HTMLText.escape(text) }

    /// A name as an anchor: lower case letters, digits and dashes.
    static func anchor(_ text: String) -> String {
        let mapped = text.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
        return String(mapped).split(separator: "-").joined(separator: "-")
    }
}

/// The two renderings of a page.
enum DocRenderer {
    static let stylesheet = """
        body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; margin: 0; }
        header { background: #0b3d5c; color: #fff; padding: 10px 24px; }
        header a { color: #fff; margin-right: 18px; text-decoration: none; font-weight: 600; }
        main { max-width: 1280px; padding: 8px 24px 48px; }
        h1 { font-size: 26px; margin: 18px 0 6px; } h2 { font-size: 20px; margin-top: 30px; border-bottom: 1px solid #d0d7de; }
        h3 { font-size: 16px; margin-top: 22px; }
        code { font: 13px ui-monospace, "SFMono-Regular", Menlo, monospace; background: #f3f4f6; padding: 1px 4px; border-radius: 4px; }
        pre { background: #f6f8fa; padding: 10px 12px; overflow-x: auto; border-radius: 6px; }
        pre code { background: none; padding: 0; }
        table { border-collapse: collapse; margin: 10px 0; } th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
        th { background: #f6f8fa; }
        figure { margin: 12px 0; overflow-x: auto; } figcaption { color: #57606a; font-size: 13px; }
        """

    static func html(_ page: DocPage, depth: Int, navigation: [(title: String, href: String)]) -> String {
        let up = String(repeating: "../", count: depth)
        var lines = [
            "<!doctype html>", "<html lang=\"en\">", "<head>", "<meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>\(DocText.escape(page.title))</title>",
            "<link rel=\"stylesheet\" href=\"\(up)style.css\">", "</head>", "<body>",
            "<header>" + navigation.map { "<a href=\"\(up)\($0.href)\">\(DocText.escape($0.title))</a>" }.joined() + "</header>",
            "<main>",
        ]
        for block in page.blocks {
            switch block {
            case .heading(let level, let text, let anchor):
                let id = anchor.map { " id=\"\(DocText.escape($0))\"" } ?? ""
                lines.append("<h\(level)\(id)>\(DocText.html(text))</h\(level)>")
            case .paragraph(let text):
                lines.append("<p>\(DocText.html(text))</p>")
            case .list(let items):
                lines.append("<ul>" + items.map { "<li>\(DocText.html($0))</li>" }.joined() + "</ul>")
            case .steps(let items):
                lines.append("<ol>" + items.map { "<li>\(DocText.html($0))</li>" }.joined() + "</ol>")
            case .table(let header, let rows):
                lines.append("<table><thead><tr>" + header.map { "<th>\(DocText.html($0))</th>" }.joined() + "</tr></thead><tbody>")
                for row in rows { lines.append("<tr>" + row.map { "<td>\(DocText.html($0))</td>" }.joined() + "</tr>") }
                lines.append("</tbody></table>")
            case .code(let text):
                lines.append("<pre><code>\(DocText.escape(text))</code></pre>")
            case .diagram(_, let svg, let caption):
                // Inline, so the page needs neither JavaScript nor a second request; the file beside it is the same.
                lines.append("<figure>\(svg)<figcaption>\(DocText.html(caption))</figcaption></figure>")
            }
        }
        lines += ["</main>", "</body>", "</html>"]
        return lines.joined(separator: "\n") + "\n"
    }

    static func markdown(_ page: DocPage) -> String {
        var lines: [String] = []
        for block in page.blocks {
            switch block {
            case .heading(let level, let text, let anchor):
                if let anchor { lines.append("<a id=\"\(anchor)\"></a>") }
                lines += [String(repeating: "#", count: level) + " " + markdownLinks(text), ""]
            case .paragraph(let text):
                lines += [markdownLinks(text), ""]
            case .list(let items):
                lines += items.map { "- " + markdownLinks($0) } + [""]
            case .steps(let items):
                lines += items.enumerated().map { "\($0.offset + 1). " + markdownLinks($0.element) } + [""]
            case .table(let header, let rows):
                lines.append("| " + header.map(cell).joined(separator: " | ") + " |")
                lines.append("|" + header.map { _ in "---" }.joined(separator: "|") + "|")
                for row in rows { lines.append("| " + row.map(cell).joined(separator: " | ") + " |") }
                lines.append("")
            case .code(let text):
                let fence = text.contains("```") ? "~~~~" : "```"
                lines += [fence, text, fence, ""]
            case .diagram(let file, _, let caption):
                lines += ["![\(caption.replacingOccurrences(of: "`", with: ""))](\(file))", "", "*\(markdownLinks(caption))*", ""]
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Links between pages point at `.html` files; in Markdown they point at the `.md` pages.
    private static func markdownLinks(_ text: String) -> String {
        text.replacingOccurrences(of: ".html)", with: ".md)").replacingOccurrences(of: ".html#", with: ".md#")
    }

    private static func cell(_ text: String) -> String {
        // A `|` outside code spans would end the cell; inside them Markdown.code has escaped it already.
        var output = ""
        var inCode = false
        var previous: Character = " "
        for character in markdownLinks(text) {
            if character == "`" { inCode.toggle() }
            if character == "|", !inCode, previous != "\\" { output += "\\|" } else { output.append(character) }
            previous = character
        }
        return output.replacingOccurrences(of: "\n", with: " ")
    }
}
