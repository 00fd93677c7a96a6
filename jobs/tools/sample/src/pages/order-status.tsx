import { useEffect, useState } from "react";
import { useParams } from "react-router-dom";
import { getOrder, type Order } from "../api/orders";

const STEPS: Order["status"][] = ["placed", "packed", "shipped", "delivered"];

export function OrderStatusPage() {
  const { orderId } = useParams();
  const [order, setOrder] = useState<Order | null>(null);

  useEffect(() => {
    if (!orderId) return;
    // Polls every 30 s; there are no push notifications yet.
    const load = () => getOrder(orderId).then(setOrder);
    load();
    const timer = setInterval(load, 30_000);
    return () => clearInterval(timer);
  }, [orderId]);

  if (!order) return <p>Loading…</p>;
  return (
    <main>
      <h1>Order {order.id}</h1>
      <ol>
        {STEPS.map((step) => (
          <li key={step} aria-current={step === order.status ? "step" : undefined}>
            {step}
          </li>
        ))}
      </ol>
    </main>
  );
}
