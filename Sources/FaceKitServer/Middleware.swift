import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Outermost: turns every error into the service's JSON error, then logs and
/// counts each request with the status it really got.
struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        var failure: APIError?
        do {
            response = try await next(request, context)
        } catch {
            let apiError = APIError.from(error)
            failure = apiError
            response = apiError.response()
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let route = context.endpointPath ?? "unmatched"
        metrics.request(method: request.method.rawValue, route: route, status: response.status.code, seconds: seconds)
        var metadata: Logger.Metadata = [
            "method": "\(request.method.rawValue)", "path": "\(request.uri.path)",
            "status": "\(response.status.code)", "ms": "\(Int(seconds * 1000))",
        ]
        if let failure { metadata["error"] = "\(failure.message)" }
        // Busy and timed-out answers are load, and 501 a route this server was
        // started without: warnings, not errors.
        let level: Logger.Level = switch response.status.code {
        case 501, 503, 504: .warning
        case 500...: .error
        case 400...: .notice
        default: .info
        }
        logger.log(level: level, "request", metadata: metadata)
        return response
    }
}

/// API keys in `X-API-Key: KEY` or `Authorization: Bearer KEY` (deepface's
/// header). With no keys configured, which is allowed on loopback only,
/// every request passes.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let keys: APIKeys
    let openPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if keys.isEmpty || (request.method == .get && openPaths.contains(request.uri.path)) {
            return try await next(request, context)
        }
        guard let key = Self.key(in: request.headers) else {
            throw APIError(.unauthorized, "an API key is required: send X-API-Key: KEY or Authorization: Bearer KEY",
                           headers: [.wwwAuthenticate: "Bearer"])
        }
        guard keys.accepts(key) else {
            throw APIError(.unauthorized, "the API key is not valid", headers: [.wwwAuthenticate: "Bearer"])
        }
        return try await next(request, context)
    }

    static func key(in headers: HTTPFields) -> String? {
        if let key = headers[HTTPField.Name("X-API-Key")!], !key.isEmpty { return key.trimmingCharacters(in: .whitespaces) }
        guard let authorization = headers[.authorization] else { return nil }
        let parts = authorization.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return String(parts[1])
    }
}

extension APIError: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }
}
