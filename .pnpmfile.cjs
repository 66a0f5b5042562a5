// vitest declares @opentelemetry/api as an optional peer (its own experimental tracing). Core's
// tests install the API, the other packages do not, so pnpm made two copies of vitest, and the
// `ProvidedContext` that @active-runs/test-utils declares reached only one of them (core's
// `inject()` calls stopped typechecking). Dropping that peer keeps one vitest for every package.
module.exports = {
  hooks: {
    readPackage(pkg) {
      if (pkg.name === 'vitest') {
        if (pkg.peerDependencies) delete pkg.peerDependencies['@opentelemetry/api'];
        if (pkg.peerDependenciesMeta) delete pkg.peerDependenciesMeta['@opentelemetry/api'];
      }
      return pkg;
    },
  },
};
