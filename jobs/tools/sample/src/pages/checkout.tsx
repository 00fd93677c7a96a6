import { useState } from "react";
import { useNavigate } from "react-router-dom";
import { placeOrder, type Address } from "../api/orders";
import { createPaymentIntent } from "../api/payments";
import { AddressForm } from "../components/AddressForm";
import { PriceTag } from "../components/PriceTag";
import { PromoCodeInput } from "../components/PromoCodeInput";
import { useCart } from "../hooks/useCart";
import { getSession } from "../api/client";

const SHIPPING_CENTS = 499;
const FREE_SHIPPING_FROM_CENTS = 5000;

export function CheckoutPage() {
  const { items, subtotalCents, clear } = useCart();
  const [address, setAddress] = useState<Address | null>(null);
  const [promoCode, setPromoCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [submitting, setSubmitting] = useState(false);
  const navigate = useNavigate();

  // No guest checkout: the shopper must be signed in to pay.
  if (!getSession()) {
    return <p>Please sign in to check out.</p>;
  }

  const shippingCents = subtotalCents >= FREE_SHIPPING_FROM_CENTS ? 0 : SHIPPING_CENTS;
  const totalCents = subtotalCents + shippingCents;

  async function onPlaceOrder() {
    if (!address) {
      setError("Please enter a delivery address.");
      return;
    }
    setSubmitting(true);
    setError(null);
    try {
      const intent = await createPaymentIntent(totalCents);
      // The promo code is only validated here, when the order is placed.
      const order = await placeOrder({ items, address, promoCode, paymentIntentId: intent.id });
      clear();
      navigate(`/orders/${order.id}`);
    } catch (e) {
      setError(e instanceof Error ? e.message : "Checkout failed, please try again.");
    } finally {
      setSubmitting(false);
    }
  }

  return (
    <main>
      <h1>Checkout</h1>
      <AddressForm onChange={setAddress} />
      <PromoCodeInput value={promoCode} onChange={setPromoCode} />
      <dl>
        <dt>Subtotal</dt>
        <dd><PriceTag cents={subtotalCents} /></dd>
        <dt>Shipping</dt>
        <dd>{shippingCents === 0 ? "Free" : <PriceTag cents={shippingCents} />}</dd>
        <dt>Total</dt>
        <dd><PriceTag cents={totalCents} /></dd>
      </dl>
      {error && <p role="alert">{error}</p>}
      <button onClick={onPlaceOrder} disabled={submitting}>
        {submitting ? "Placing order…" : "Place order"}
      </button>
    </main>
  );
}
