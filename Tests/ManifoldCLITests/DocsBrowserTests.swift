import Foundation
@testable import ManifoldCLI
import JSONValue
import TestSupport
import Testing

/// The generated handbook in a real browser (headless Chromium, as the dashboard's test): every page renders with
/// its diagram, every link followed in the browser lands on a page and on its anchor, and no secret is on a page.
@Suite struct DocsBrowserTests {
    @Test func theHandbookOfTheExamplesRendersAndEveryLinkLands() async throws {
        try await TemporaryDirectory.withAsync { folder in
            let output = try DocsCommand.parse([DocsCommandTests.connectors.path, "--out", folder.path,
                                                "--config", DocsCommandTests.root.appending(path: "manifold.yaml").path]).perform()
            #expect(output.status == 0, "\(output.standardError)")
            let browser = try await DashboardBrowserTests.Browser.start()
            do {
                let index = folder.appending(path: "index.html").absoluteString
                try await browser.open(index)
                #expect(try await browser.waitFor("document.readyState === 'complete' && document.querySelector('main h1') !== null"))
                // The pages: the index's links to connectors and onboarding.
                var pages = [index]
                let linked = try await browser.script("return Array.from(document.querySelectorAll('main a')).map(a => new URL(a.getAttribute('href'), location.href).href.split('#')[0])")
                for href in linked.arrayValue?.compactMap(\.stringValue) ?? [] where !pages.contains(href) { pages.append(href) }
                let examples = try DocsCommandTests.exampleNames()
                #expect(pages.count >= examples.count + 2, "\(pages)")
                var links: Set<String> = []
                let environment = try EnvironmentFile.read(DocsCommandTests.connectors.appending(path: "example.env").path)
                for page in pages {
                    try await browser.open(page)
                    #expect(try await browser.waitFor("document.readyState === 'complete'"))
                    let facts = try await browser.script("""
                        const svg = document.querySelector('figure svg');
                        const box = svg ? svg.getBoundingClientRect() : null;
                        return {
                          title: document.title,
                          heading: (document.querySelector('main h1') || {}).textContent || '',
                          boxes: svg ? svg.querySelectorAll('rect').length : 0,
                          width: box ? box.width : 0,
                          styled: getComputedStyle(document.querySelector('header')).backgroundColor,
                          text: document.body.innerText,
                          links: Array.from(document.querySelectorAll('a')).map(a => new URL(a.getAttribute('href'), location.href).href)
                        };
                        """)
                    let title = facts["title"]?.stringValue ?? "", heading = facts["heading"]?.stringValue ?? ""
                    #expect(title.isEmpty == false, "\(page) has no title: \(facts.serialized().prefix(300))")
                    #expect(heading.isEmpty == false, "\(page) has no heading")
                    #expect(facts["styled"]?.stringValue == "rgb(11, 61, 92)", "\(page): the stylesheet is not applied")
                    if !page.hasSuffix("onboarding.html") {
                        #expect((facts["boxes"]?.numberValue ?? 0) >= 3, "\(page): the diagram has no boxes")
                        #expect((facts["width"]?.numberValue ?? 0) > 200, "\(page): the diagram is not drawn")
                    }
                    let text = facts["text"]?.stringValue ?? ""
                    #expect(!text.contains("undefined") && !text.contains("[target"), "\(page) shows unrendered text")
                    for secret in environment.values where secret.count >= 12 { #expect(!text.contains(secret), "\(page) shows a secret") }
                    for link in facts["links"]?.arrayValue?.compactMap(\.stringValue) ?? [] { links.insert(link) }
                }
                // Every link, followed: it lands on a page of the site, and on its anchor when it has one.
                #expect(links.count > 50, "\(links.count) links")
                for link in links.sorted() {
                    #expect(link.hasPrefix("file://"), "a link out of the site: \(link)")
                    try await browser.open(link)
                    let hash = link.contains("#") ? String(link.split(separator: "#", maxSplits: 1)[1]) : ""
                    let landed = try await browser.waitFor(
                        "document.readyState === 'complete' && document.querySelector('main h1') !== null"
                            + (hash.isEmpty ? "" : " && document.getElementById(\(JSON.string(hash).serialized())) !== null"))
                    #expect(landed, "the link \(link) does not land")
                }
                // A screenshot of a connector's page, kept under .build for a person to look at.
                try await browser.open(folder.appending(path: "connectors/stripe-to-hubspot.html").absoluteString)
                #expect(try await browser.waitFor("document.readyState === 'complete'"))
                let png = try await browser.screenshot()
                #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 20_000, "a real screenshot: \(png.count) bytes")
                let artifacts = TestPaths.packageRoot.appending(path: ".build/test-artifacts")
                try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
                try png.write(to: artifacts.appending(path: "docs-stripe-to-hubspot.png"))
            } catch {
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }
}
