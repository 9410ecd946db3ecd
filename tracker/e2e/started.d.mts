/** Types of started.mjs, which the dashboard's suite (plain Node) imports too. */
export function startedLine(text: string): { http: string; grpc: string; admin: string } | undefined;
