import Foundation
import ManifoldCLI

exit(await ManifoldCommand.main(Array(CommandLine.arguments.dropFirst())))
