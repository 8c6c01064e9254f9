import Foundation
import PackagePlugin

/// Compiles the files in the target's `Pages` folder into the target (see Sources/EmbedFiles).
@main
struct EmbedPages: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let folder = target.directoryURL.appendingPathComponent("Pages")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { !$0.hasPrefix(".") }
            .sorted()
        let inputs = names.map { folder.appendingPathComponent($0) }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedPages.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) pages into \(target.name)",
                executable: try context.tool(named: "EmbedFiles").url,
                arguments: [output.path, "EmbeddedPages"] + inputs.map(\.path),
                inputFiles: inputs,
                outputFiles: [output])
        ]
    }
}
