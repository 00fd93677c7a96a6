import { apiFetch } from "./client";
import type { CartLine } from "../hooks/useCart";

export type Address = { name: string; street: string; city: string; postalCode: string };

export type Order = {
  id: string;
  status: "placed" | "packed" | "shipped" | "delivered";
  totalCents: number;
};

export function placeOrder(body: {
  items: CartLine[];
  address: Address;
  promoCode: string;
  paymentIntentId: string;
}): Promise<Order> {
  return apiFetch<Order>("/orders", { method: "POST", body: JSON.stringify(body) });
}

export function getOrder(orderId: string): Promise<Order> {
  return apiFetch<Order>(`/orders/${encodeURIComponent(orderId)}`);
}
