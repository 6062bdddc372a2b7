import Foundation
import Metrics
// Only these two: Prometheus also declares Counter and Gauge, and the ones
// used here are swift-metrics' front ends.
import class Prometheus.PrometheusCollectorRegistry
import struct Prometheus.PrometheusMetricsFactory

/// The service's metrics, recorded through swift-metrics into a Prometheus
/// registry that this service owns. Owning it (rather than bootstrapping the
/// process-wide MetricsSystem) lets several services, as in the tests, live
/// in one process, each with its own numbers.
public struct ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let running: Gauge
    private let queued: Gauge

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        // Face work takes tens of milliseconds to seconds; the default
        // buckets are tuned for sub-millisecond calls.
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30),
        ]
        self.factory = factory
        running = Gauge(label: "facekit_engine_jobs_running", factory: factory)
        queued = Gauge(label: "facekit_engine_jobs_queued", factory: factory)
    }

    /// One finished HTTP request. `route` is the matched route's pattern, so
    /// the label set stays small whatever paths clients send.
    func request(method: String, route: String, status: Int, seconds: Double) {
        Counter(label: "facekit_http_requests_total",
                dimensions: [("method", method), ("route", route), ("status", String(status))], factory: factory).increment()
        Metrics.Timer(label: "facekit_http_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            .recordNanoseconds(Int64(seconds * 1e9))
    }

    func refused(reason: String) {
        Counter(label: "facekit_engine_refused_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    func engine(_ snapshot: WorkQueue.Snapshot) {
        running.record(snapshot.running)
        queued.record(snapshot.queued)
    }

    /// Prometheus text exposition format.
    public func exposition() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}
