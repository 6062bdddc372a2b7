import ArgumentParser
import FaceKit
import FaceKitStore
import Foundation

struct Identities: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the identities in the face store with their face counts.")

    @OptionGroup var storeFlags: StoreFlags

    @Flag(help: "Print JSON.")
    var json = false

    struct IdentityJSON: Encodable {
        let identity: String
        let faces: Int
        let models: [String]
    }

    func run() throws {
        try Failure.run {
            let store = try storeFlags.open()
            let all = try store.identities(signature: nil)
            if json {
                try Output.json(all.map { IdentityJSON(identity: $0.identity, faces: $0.faces, models: $0.models) })
                return
            }
            if all.isEmpty {
                print("no identities in \(store.location)")
                return
            }
            print(Output.table(["identity", "faces", "models"], all.map { [$0.identity, "\($0.faces)", $0.models.joined(separator: ",")] }))
        }
    }
}
