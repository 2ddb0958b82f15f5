// swift-tools-version:6.0
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "manifold",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "manifold", targets: ["manifold"]),
        .library(name: "JSONSchema", targets: ["JSONSchema"]),
        .library(name: "JSONata", targets: ["JSONata"]),
        .library(name: "ManifoldCompiler", targets: ["ManifoldCompiler"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        // An ordered JSON value with its own parser and printer: the data every other module speaks.
        .target(name: "JSONValue", swiftSettings: strictSwift),
        // The JSONata expression language: lexer, parser, evaluator, function library. No Manifold imports.
        .target(name: "JSONata", dependencies: ["JSONValue"], swiftSettings: strictSwift),
        // A general JSON Schema (draft 2020-12) validator with structured, located errors.
        .target(name: "JSONSchema", dependencies: ["JSONValue"], swiftSettings: strictSwift),
        // The compiled execution plan: immutable, Sendable, Equatable value types.
        .target(
            name: "ManifoldPlan",
            dependencies: ["JSONValue", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSwift
        ),
        // YAML + schema -> diagnostics and plan; pure and deterministic.
        .target(
            name: "ManifoldCompiler",
            dependencies: ["JSONValue", "JSONSchema", "JSONata", "ManifoldPlan", "Yams"],
            swiftSettings: strictSwift,
            plugins: ["EmbedSchemas"]
        ),
        // The subcommands; the executable only calls into this.
        .target(
            name: "ManifoldCLI",
            dependencies: [
                "JSONValue", "JSONata", "ManifoldPlan", "ManifoldCompiler",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
        .executableTarget(name: "manifold", dependencies: ["ManifoldCLI"], swiftSettings: strictSwift),

        // Embeds schemas/*.json into the binary so that there is one copy and `manifold` runs from anywhere.
        .executableTarget(name: "embed-schemas", path: "Plugins/EmbedSchemasTool"),
        .plugin(name: "EmbedSchemas", capability: .buildTool(), dependencies: ["embed-schemas"]),

        // What the test targets share: paths, a seeded generator, running a child process.
        .target(name: "TestSupport", dependencies: ["JSONSchema", "JSONValue"], path: "Tests/TestSupport",
                swiftSettings: strictSwift),
        .testTarget(name: "JSONValueTests", dependencies: ["JSONValue"]),
        .testTarget(name: "JSONataTests", dependencies: ["JSONata", "JSONValue", "TestSupport"]),
        .testTarget(
            name: "JSONSchemaTests",
            dependencies: ["JSONSchema", "JSONValue", "TestSupport"],
            exclude: ["Metaschemas"]
        ),
        .testTarget(
            name: "ManifoldCompilerTests",
            dependencies: ["ManifoldCompiler", "ManifoldPlan", "JSONValue", "JSONSchema", "Yams", "TestSupport"]
        ),
        .testTarget(
            name: "ManifoldCLITests",
            dependencies: ["ManifoldCLI", "ManifoldCompiler", "ManifoldPlan", "JSONValue", "TestSupport"],
            exclude: ["Golden"]
        ),
    ]
)
