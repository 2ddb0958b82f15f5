import Foundation
import ManifoldCLI

exit(ManifoldCommand.main(Array(CommandLine.arguments.dropFirst())))
