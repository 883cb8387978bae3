// A client team's program on the types openapi-typescript generates from
// api/openapi.bundled.yaml (schema.d.ts beside it, made by
// TestGeneratedClients) and openapi-fetch: it places an order with an extra
// field and reads the 201, asks for today's summary, and reads a problem.
// It prints what it read as JSON lines; any surprise is an error exit.
//
// usage: node client.js URL
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

// Node's own, declared here rather than with @types/node.
declare const process: { argv: string[]; exit(code: number): never };

type Order = components["schemas"]["Order"];

function print(what: string, v: Record<string, unknown>): void {
  console.log(JSON.stringify({ ...v, what }));
}

async function main(url: string): Promise<void> {
  const client = createClient<paths>({ baseUrl: url });
  const order: Order = {
    order_id: 8,
    email_vendedor: "Vendor_TS@Example.com",
    email_cocinero: "cook_ts@example.com",
    numero_sopaipillas: 4,
    nota: "sin pebre",
  };
  const placed = await client.POST("/newOrder", { body: order });
  if (placed.response.status !== 201 || placed.data === undefined) {
    throw new Error(`newOrder: ${placed.response.status} ${JSON.stringify(placed.error)}`);
  }
  print("order", {
    event_id: placed.data.event_id,
    email_vendedor: placed.data.order.email_vendedor,
    nota: placed.data.order["nota"],
  });

  const summary = await client.POST("/dailySummary", { body: {} });
  if (summary.data === undefined) {
    throw new Error(`dailySummary: ${summary.response.status} ${JSON.stringify(summary.error)}`);
  }
  const sales = summary.data.summary.ventas["vendor_ts@example.com"];
  print("summary", {
    n_sopaipillas: sales?.n_sopaipillas,
    n_ordenes: sales?.n_ordenes,
    report_status: summary.data.report_status,
  });

  const refused = await client.POST("/newOrder", { body: { ...order, numero_sopaipillas: 0 } });
  const problem = refused.error;
  if (refused.response.status !== 422 || problem === undefined || !problem.errors?.length) {
    throw new Error(`newOrder: want a 422 problem, got ${refused.response.status}`);
  }
  print("problem", { status: problem.status, field: problem.errors[0]?.field });
}

main(process.argv[2] ?? "").catch((e: unknown) => {
  console.error("tsclient:", e);
  process.exit(1);
});
