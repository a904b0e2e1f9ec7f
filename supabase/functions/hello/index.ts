// Entry point for `supabase functions deploy hello`; the logic is in handler.ts.
import { createHandler } from "./handler.ts";

// connectEarly: the worker's first hello finds its database connection open, or opening.
Deno.serve(createHandler(Deno.env.toObject(), { connectEarly: true }));
