// swift-tools-version:6.1
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
        .library(name: "ManifoldDiff", targets: ["ManifoldDiff"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // OpenAPI documents (3.0 and 3.1) for `manifold import openapi`; without its external-loading trait, which
        // the import does not use and which makes the package slower to build.
        .package(url: "https://github.com/mattpolzin/OpenAPIKit", from: "6.4.0", traits: []),
    ],
    targets: [
        // An ordered JSON value with its own parser and printer: the data every other module speaks. Release builds
        // leave out run-time exclusivity checks, as JSONata's do (below): an object's members sit in a class box read
        // at every step of every walk over a document. Debug builds keep them.
        .target(name: "JSONValue",
                swiftSettings: strictSwift + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        // C's printf for fixed and exponent notation, called without a va_list (JSONata's number pictures).
        .target(name: "CNumberFormat"),
        // The JSONata expression language: lexer, parser, evaluator, function library. No Manifold imports.
        // Release builds leave out the run-time exclusivity checks of the evaluator's class properties (its tree, frames
        // and arrays): 11–20% of a mapping's time (`benchmarks/jsonata-mapping`). Debug builds, which every test runs
        // (the official JSONata suite, the fuzzers), keep them: a conflicting access traps there.
        .target(name: "JSONata", dependencies: ["JSONValue", "CNumberFormat"],
                swiftSettings: strictSwift + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
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
        // What changed in behaviour between two plans, classified breaking / risky / safe, as text, Markdown or JSON.
        .target(name: "ManifoldDiff", dependencies: ["JSONValue", "ManifoldPlan"], swiftSettings: strictSwift),
        // Watching the engine: rolling figures per lane and connector, alert rules evaluated on them, their messages
        // and their Prometheus equivalents. Pure: time and the engine's state come in as values.
        .target(name: "ManifoldMonitor", dependencies: ["JSONValue", "ManifoldPlan"], swiftSettings: strictSwift),
        // Webhook ingress without HTTP: signature schemes (verify and sign), secrets, the decision for one request.
        .target(
            name: "ManifoldIngress",
            dependencies: ["JSONValue", "JSONata", "JSONSchema", "ManifoldPlan", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSwift
        ),
        // The store's contract: the protocols (events, jobs, endpoints, pulls, rollouts), their value types and the
        // rules every implementation keeps (job transitions, fencing). Knows no database.
        .target(name: "ManifoldStore", dependencies: ["JSONValue"], swiftSettings: strictSwift),
        // The embedded store on SQLite (WAL, group commit, versioned migrations), and reading a pull's SQLite table.
        .target(
            name: "ManifoldSQLite",
            dependencies: ["JSONValue", "ManifoldStore", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "GRDBSQLite", package: "GRDB.swift")],
            swiftSettings: strictSwift
        ),
        // The shared store on PostgreSQL, for several engines on one database (claims with SKIP LOCKED, fenced
        // leases, partitions by day).
        .target(
            name: "ManifoldPostgres",
            dependencies: ["JSONValue", "ManifoldStore", .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSwift
        ),
        // Delivery: routing, lanes (queue, concurrency, rate limit, breaker), mapping, auth, outbound HTTP, retries.
        .target(
            name: "ManifoldDelivery",
            dependencies: [
                "JSONValue", "JSONata", "JSONSchema", "ManifoldPlan", "ManifoldIngress", "ManifoldStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strictSwift
        ),
        // The engine: an HTTP server in front of ingress and the store, run under service lifecycle.
        .target(
            name: "ManifoldEngine",
            dependencies: [
                "JSONValue", "ManifoldPlan", "ManifoldCompiler", "ManifoldDiff", "ManifoldIngress", "ManifoldStore",
                "ManifoldSQLite", "ManifoldDelivery", "ManifoldMonitor",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift
        ),
        // `manifold test`: a connector's test cases through the real plan, engine and runtime, offline and on virtual time.
        .target(
            name: "ManifoldTestRunner",
            dependencies: [
                "JSONValue", "JSONata", "ManifoldPlan", "ManifoldCompiler", "ManifoldIngress", "ManifoldStore",
                "ManifoldSQLite", "ManifoldDelivery", "ManifoldEngine", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSwift
        ),
        // `manifold import openapi`: an OpenAPI document's operations as a target block (base URL, auth, operations
        // with their body schemas). Pure: text in, YAML out.
        .target(
            name: "ManifoldImport",
            dependencies: [
                "JSONValue", "Yams",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "OpenAPIKit", package: "OpenAPIKit"),
                .product(name: "OpenAPIKit30", package: "OpenAPIKit"),
                .product(name: "OpenAPIKitCompat", package: "OpenAPIKit"),
            ],
            swiftSettings: strictSwift
        ),
        // The subcommands; the executable only calls into this.
        .target(
            name: "ManifoldCLI",
            dependencies: [
                "JSONValue", "JSONata", "ManifoldPlan", "ManifoldCompiler", "ManifoldDiff", "ManifoldIngress", "ManifoldStore",
                "ManifoldSQLite", "ManifoldPostgres", "ManifoldDelivery", "ManifoldEngine", "ManifoldTestRunner", "ManifoldMonitor", "ManifoldImport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSwift
        ),
        .executableTarget(name: "manifold", dependencies: ["ManifoldCLI"], swiftSettings: strictSwift),
        // A vendor on loopback for the delivery proofs and benchmarks: told to be fast, slow, failing or rate-limiting.
        .executableTarget(
            name: "manifold-mock-vendor",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird"), .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strictSwift
        ),

        // Embeds schemas/*.json into the binary so that there is one copy and `manifold` runs from anywhere.
        .executableTarget(name: "embed-schemas", path: "Plugins/EmbedSchemasTool"),
        .plugin(name: "EmbedSchemas", capability: .buildTool(), dependencies: ["embed-schemas"]),

        // What the test targets share: paths, a seeded generator, running a child process.
        .target(name: "TestSupport", dependencies: ["JSONSchema", "JSONValue", "ManifoldCompiler", "ManifoldPlan", "ManifoldDelivery",
                                                .product(name: "PostgresNIO", package: "postgres-nio")],
                path: "Tests/TestSupport",
                swiftSettings: strictSwift),
        .testTarget(name: "JSONValueTests", dependencies: ["JSONValue", "TestSupport"]),
        .testTarget(name: "ManifoldMonitorTests", dependencies: ["ManifoldMonitor", "ManifoldPlan"]),
        .testTarget(name: "JSONataTests", dependencies: ["JSONata", "JSONValue", "TestSupport"], exclude: ["Fixtures"]),
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
            name: "ManifoldIngressTests",
            dependencies: ["ManifoldIngress", "ManifoldPlan", "JSONValue", "TestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "ManifoldStoreTests",
            dependencies: ["ManifoldStore", "ManifoldSQLite", "ManifoldPostgres", "JSONValue", "TestSupport",
                           .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "ManifoldEngineTests",
            dependencies: [
                "ManifoldEngine", "ManifoldIngress", "ManifoldStore", "ManifoldSQLite", "ManifoldPostgres", "ManifoldPlan", "ManifoldDelivery",
                "ManifoldCompiler",
                "JSONValue", "TestSupport", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "ManifoldDeliveryTests",
            dependencies: ["ManifoldDelivery", "ManifoldPlan", "ManifoldStore", "ManifoldCompiler", "JSONValue", "TestSupport",
                           .product(name: "Tracing", package: "swift-distributed-tracing")]
        ),
        .testTarget(
            name: "ManifoldCLITests",
            dependencies: [
                "ManifoldCLI", "ManifoldCompiler", "ManifoldPlan", "ManifoldStore", "ManifoldSQLite", "ManifoldPostgres", "JSONValue", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            exclude: ["Golden"]
        ),
    ]
)
