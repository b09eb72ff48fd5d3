// An empty module: stands in for a dependency a board never uses (build/aliases.ts says which and why).
module.exports = {};
