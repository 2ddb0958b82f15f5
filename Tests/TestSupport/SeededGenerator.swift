public import ManifoldDelivery

/// The deterministic generator (SplitMix64) the runtime seeds its jitter with, so that a generated test case
/// reproduces from its seed. One implementation: `ManifoldDelivery.SeededGenerator`.
public typealias SeededGenerator = ManifoldDelivery.SeededGenerator
