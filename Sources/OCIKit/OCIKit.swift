// OCIKit: the one product a user imports. It re-exports the modules whose types its verbs take and return,
// so `import OCIKit` is enough for pull, push, copy, inspect and tag.
@_exported import OCIArchive
@_exported import OCIBuild
@_exported import OCIContent
@_exported import OCICredentials
@_exported import OCILayout
@_exported import OCIReference
@_exported import OCIRegistry
@_exported import OCISpec
@_exported import OCITar
