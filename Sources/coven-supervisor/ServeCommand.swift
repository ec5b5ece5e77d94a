import Foundation

enum ServeCommand {
    static func main(_ args: [String]) -> Int32 {
        FileHandle.standardError.write(Data("coven-supervisor: not implemented yet\n".utf8))
        return 2
    }
}
