import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import type { Product } from "../api/products";

export type CartLine = { product: Product; quantity: number };

type Cart = {
  items: CartLine[];
  subtotalCents: number;
  addItem: (product: Product, quantity: number) => void;
  updateQuantity: (productId: string, quantity: number) => void;
  removeItem: (productId: string) => void;
  clear: () => void;
};

const STORAGE_KEY = "pantry.cart.v1";
const CartContext = createContext<Cart | null>(null);

export function CartProvider({ children }: { children: ReactNode }) {
  const [items, setItems] = useState<CartLine[]>(() =>
    JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "[]"),
  );

  useEffect(() => localStorage.setItem(STORAGE_KEY, JSON.stringify(items)), [items]);

  const cart = useMemo<Cart>(
    () => ({
      items,
      subtotalCents: items.reduce((sum, l) => sum + l.product.priceCents * l.quantity, 0),
      addItem: (product, quantity) =>
        setItems((lines) => {
          const found = lines.find((l) => l.product.id === product.id);
          if (!found) return [...lines, { product, quantity }];
          return lines.map((l) =>
            l === found ? { ...l, quantity: Math.min(99, l.quantity + quantity) } : l,
          );
        }),
      updateQuantity: (productId, quantity) =>
        setItems((lines) => lines.map((l) => (l.product.id === productId ? { ...l, quantity } : l))),
      removeItem: (productId) => setItems((lines) => lines.filter((l) => l.product.id !== productId)),
      clear: () => setItems([]),
    }),
    [items],
  );

  return <CartContext.Provider value={cart}>{children}</CartContext.Provider>;
}

export function useCart(): Cart {
  const cart = useContext(CartContext);
  if (!cart) throw new Error("useCart must be used inside <CartProvider>");
  return cart;
}
