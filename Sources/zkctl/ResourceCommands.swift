import ArgumentParser
import EnsembleCore
import Foundation

/// Options shared by the commands that read Ensemble resources.
struct ResourceInput: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("File with one or more Ensemble resources (YAML or JSON); - reads standard input.", valueName: "file"))
    var file: String

    func read() throws -> String {
        let limit = DocumentLimits.maxStreamBytes
        let tooLarge = CLIError("\(sourceName): error: input is larger than \(limit) bytes, more than this tool reads at once")
        if file == "-" {
            var text = ""
            var bytes = 0
            while let line = readLine(strippingNewline: false) {
                bytes += line.utf8.count
                if bytes > limit { throw tooLarge }
                text += line
            }
            return text
        }
        guard FileManager.default.fileExists(atPath: file) else {
            throw CLIError("\(file): no such file")
        }
        do {
            // Checked before reading: the loader refuses it anyway, but only once it is in memory.
            if let size = try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int, size > limit { throw tooLarge }
            return try String(contentsOfFile: file, encoding: .utf8)
        } catch let error as CLIError {
            throw error
        } catch {
            throw CLIError("\(file): cannot read: \(error.localizedDescription)")
        }
    }

    var sourceName: String { file == "-" ? "<stdin>" : file }

    /// Loads and validates every document; prints problems to stderr.
    func loadValid() throws -> [Ensemble] {
        let text = try read()
        let documents: [SourceDocument]
        do {
            documents = try ManifestLoader.loadDocuments(yaml: text, source: sourceName)
        } catch {
            throw CLIError(error.description)
        }
        if documents.isEmpty { throw CLIError("\(sourceName): no resources found") }
        var ensembles: [Ensemble] = []
        var failed = false
        for document in documents {
            let report = Validator.validate(document: document)
            for problem in report.problems { printProblem(problem, source: sourceName) }
            if !report.isValid { failed = true; continue }
            if let ensemble = report.ensemble { ensembles.append(ensemble) }
        }
        if failed { throw ExitCode(1) }
        return ensembles
    }
}

/// An error the CLI reports as one "zkctl: <error>" line and exit status 1 (see
/// `exitOnReportedError`); other errors, such as ArgumentParser's ExitCode, pass through.
protocol ReportedError: Error, CustomStringConvertible {}

struct CLIError: ReportedError {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body`; a ReportedError is printed as "zkctl: <error>" and ends the command with exit status 1.
func exitOnReportedError(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as any ReportedError {
        printError("zkctl: \(error)")
        throw ExitCode(1)
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

func printProblem(_ problem: Problem, source: String) {
    let location = problem.position.map { "\(source):\($0.line):\($0.column)" } ?? source
    printError("\(location): \(problem.severity.rawValue): \(problem)")
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case yaml, json
}

struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the manifests the operator would apply for Ensemble resources.",
        discussion: "Validates first: any error is printed with its field path and nothing is rendered (exit 1). Warnings go to standard error.")

    @OptionGroup var input: ResourceInput

    @Option(name: .shortAndLong, help: "Output format: yaml (multi-document) or json (a v1 List).")
    var output: OutputFormat = .yaml

    @Option(help: "Image that carries the ensemble-probe binary (the operator's image).")
    var probeImage: String = Defaults.probeImage

    func run() throws {
        try exitOnReportedError {
            let ensembles = try input.loadValid()
            let objects = ensembles.flatMap { Rendering.render($0, options: RenderOptions(probeImage: probeImage)) }
            switch output {
            case .yaml: print(Emit.yamlDocuments(objects), terminator: "")
            case .json: print(Emit.json(["apiVersion": "v1", "kind": "List", "items": .array(objects)]), terminator: "")
            }
        }
    }
}

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check Ensemble resources and print every problem with its field path.",
        discussion: "Exit status: 0 valid (warnings may be printed), 1 invalid, 64 usage error.")

    @OptionGroup var input: ResourceInput

    func run() throws {
        try exitOnReportedError {
            let ensembles = try input.loadValid()
            let names = ensembles.map { "\($0.metadata.namespace)/\($0.metadata.name)" }.joined(separator: ", ")
            print("valid: \(names)")
        }
    }
}

struct PrintCRD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crd",
        abstract: "Print the Ensemble CustomResourceDefinition (generated from the Swift API types).")

    func run() {
        print(CRD.yaml(), terminator: "")
    }
}
