// A real OpenID provider for the identity tests: node's oidc-provider (8.x), configured
// the way the Pulumi stacks configure Cognito / Identity Platform: a confidential web
// client (code + PKCE), a public CLI client (code + PKCE on a loopback port), a machine
// client (client credentials), groups in the tokens, JWT access tokens for one resource.
//
//   node server.mjs CONFIG.json
//
// CONFIG: {issuer, port, address, jwks: {keys: [private JWKs]}, clients: [...], resource,
//          users_file}. users_file holds {login: {groups: [...], email}} and is read at
//          every token, so a test can move a user out of a group.
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const users = () => JSON.parse(readFileSync(config.users_file, 'utf8'));
const groupsOf = (id) => (users()[id] || {}).groups || [];

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  pkce: { required: () => true, methods: ['S256'] },
  claims: { openid: ['sub'], profile: ['name', 'groups'], email: ['email'] },
  scopes: ['openid', 'profile', 'email', 'offline_access', 'koha:publish'],
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => config.resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'koha:publish',
        audience: config.resource,
        accessTokenTTL: config.access_ttl || 600,
        accessTokenFormat: 'jwt',
      }),
    },
  },
  conformIdTokenClaims: false, // groups and email in the ID token itself
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  extraTokenClaims: async (ctx, token) => (token.accountId
    ? { groups: groupsOf(token.accountId) } : undefined),
  findAccount: async (ctx, id) => {
    const user = users()[id];
    if (!user) return undefined; // an unknown login is refused
    return {
      accountId: id,
      claims: async () => ({
        sub: id, name: user.name || id, email: user.email, groups: user.groups || [],
      }),
    };
  },
  ttl: { IdToken: config.id_token_ttl || 600, AccessToken: config.access_ttl || 600 },
});
provider.proxy = false;
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.listen(config.port, config.address || '127.0.0.1', () => {
  console.log(`listening ${config.issuer}`);
});
