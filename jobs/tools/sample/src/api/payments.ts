import { apiFetch } from "./client";

export type PaymentIntent = { id: string; clientSecretRef: string; amountCents: number };

// The card form posts to the payment provider directly; only the intent id reaches our API.
export function createPaymentIntent(amountCents: number): Promise<PaymentIntent> {
  return apiFetch<PaymentIntent>("/payments/intents", {
    method: "POST",
    body: JSON.stringify({ amountCents, currency: "EUR" }),
  });
}
