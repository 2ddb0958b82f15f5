public import ServiceLifecycle
import UnixSignals

/// Reloads on SIGHUP, the Unix way to ask a daemon to re-read its configuration.
public struct ReloadSignalService: Service {
    let reloader: ConfigReloader

    public init(reloader: ConfigReloader) {
        self.reloader = reloader
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            await reloader.reload(trigger: "signal")
        }
    }
}
