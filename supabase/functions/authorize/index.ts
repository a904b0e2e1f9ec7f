// Entry point for `supabase functions deploy authorize`; the logic is in handler.ts.
import { createHandler } from "./handler.ts";

Deno.serve(createHandler(Deno.env.toObject()));
