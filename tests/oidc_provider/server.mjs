// panva's oidc-provider on loopback, for tests/app/test_real_provider.py.
//
//   node server.mjs PORT KEYS_FILE
//
// KEYS_FILE holds {"keys": [...private JWKs with kid...]}: the test writes it, and restarts
// this process with another file to rotate or remove keys. Two clients:
// - "jobs-backend" (client_credentials): RFC 9068 JWT access tokens (typ at+jwt) for the
//   resource indicators https://jobs.example/rs (RS256) and https://jobs.example/es (ES256),
//   whose audience is "jobs-api";
// - "planner-web" (authorization code, dev interactions): ID tokens.
// Prints "listening <issuer>" once it serves.
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const [port, keysFile] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const jwks = JSON.parse(readFileSync(keysFile, "utf8"));
const AUDIENCE = "jobs-api";
const RESOURCES = {
  "https://jobs.example/rs": "RS256",
  "https://jobs.example/es": "ES256",
};

const provider = new Provider(issuer, {
  jwks,
  clients: [
    {
      client_id: "jobs-backend",
      client_secret: "jobs-backend-secret-0123456789abcdef",
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
    },
    {
      client_id: "planner-web",
      client_secret: "planner-web-secret-0123456789abcdef",
      grant_types: ["authorization_code"],
      response_types: ["code"],
      redirect_uris: ["http://127.0.0.1/callback"],
      id_token_signed_response_alg: "RS256",
    },
  ],
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resourceIndicator) {
        const alg = RESOURCES[resourceIndicator];
        if (!alg) throw new Error(`unknown resource ${resourceIndicator}`);
        return {
          scope: "jobs",
          audience: AUDIENCE,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg } },
        };
      },
    },
  },
  scopes: ["openid", "jobs"],
  claims: { openid: ["sub"] },
  findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  loadExistingGrant: async (ctx) => {
    // Consent without a consent screen: grant what the client asked for.
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid");
    await grant.save();
    return grant;
  },
});
provider.proxy = false;
provider.listen(Number(port), "127.0.0.1", () => {
  console.log(`listening ${issuer}`);
});
