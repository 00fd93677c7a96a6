// Type-checked by tests/app/test_generators.py against the types openapi-typescript makes of
// the service's OpenAPI document (api.d.ts, generated next to this file by the test).
import type { components, paths } from "./api";

type Schemas = components["schemas"];
type StartBody = paths["/jobs"]["post"]["requestBody"]["content"]["application/json"];
type Created = paths["/jobs"]["post"]["responses"][201]["content"]["application/json"];
type Page = paths["/jobs"]["get"]["responses"][200]["content"]["application/json"];

export const start: StartBody = { agent: "chat", input: { prompt: "Hello" }, background: true };
export const suggest: StartBody = {
  agent: "feature-suggestion",
  input: { pageOrComponent: "cart", featureType: "enhancement", priorityLevel: "low" },
};

export function describe(job: Schemas["JobState"]): string {
  const code: string | undefined = job.error?.code;
  const tokens: number | undefined = job.tokenUsage?.outputTokens;
  return `${job.jobId} ${job.status} ${code ?? ""} ${tokens ?? 0}`;
}

export function ids(page: Page, created: Created): string[] {
  const next: string | null = page.next;
  return [...page.jobs.map((job) => job.jobId), created.jobId, next ?? ""];
}

export const chatAgent: Schemas["CustomAgentChat"] = {
  name: "Terse",
  role: "writer",
  focus: "brevity",
  systemPrompt: "Be brief.",
  isActive: true,
  tools: [],
};
export const criticAgent: Schemas["CustomAgentFeatureSuggestion"] = {
  name: "Critic",
  role: "pm",
  focus: "checkout",
  systemPrompt: "Critique.",
  isActive: true,
  tools: ["Grep", "Read"],
};

// A list of tool names fits chat's tools (no tools, but not typed `never[]`).
const noTools: string[] = [];
export const chatTools: Schemas["CustomAgentChat"]["tools"] = noTools;

// What the types must refuse (each line fails to compile if the document loses its types):
// @ts-expect-error a status the service never reports
export const badStatus: Schemas["JobState"]["status"] = "done";
// @ts-expect-error a tool feature-suggestion agents do not have
export const badTool: Schemas["CustomAgentFeatureSuggestion"]["tools"] = ["Bash"];
// @ts-expect-error chat's tools are names (strings), not anything
export const badChatTools: Schemas["CustomAgentChat"]["tools"] = [1];
// @ts-expect-error an agent that does not exist
export const badAgent: StartBody = { agent: "nope", input: { prompt: "x" } };
